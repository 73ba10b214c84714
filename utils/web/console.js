/* kcstress live console: draws the run's ticks from /api/events (Server-Sent Events) and
 * steers it through the JSON API (docs/console.md). The token, when the page was opened
 * with ?token=..., is sent as a header on control calls and nowhere else. */
(function () {
  "use strict";

  var TOKEN = new URLSearchParams(location.search).get("token");
  if (TOKEN && history.replaceState) history.replaceState(null, "", location.pathname);

  var page = window.kcConsole;  // console_charts.js: the charts and their state

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text != null) e.textContent = text;
    return e;
  }

  /* ---- header, alerts, workloads table ---- */

  function showTick(t) {
    page.lastTick = t;
    page.ticks += 1;
    $("run-id").textContent = t.run_id || "";
    setPhase(t.phase);
    var planned = t.planned;
    $("elapsed").textContent = KC.num(t.elapsed || 0, 0) + " s" + (planned ? " of " + KC.num(planned, 0) + " s" : "");
    $("progress-bar").style.width = planned ? Math.min(100, 100 * (t.elapsed || 0) / planned) + "%" : "0";
    var tot = t.totals || {};
    $("totals").textContent = "offered " + (tot.offered || 0) + " · successes " + (tot.successes || 0) +
      " · failures " + (tot.failures || 0) + " · missed " + (tot.missed || 0) + " · late " + (tot.late || 0);
    var alerts = [];
    var c = t.chain || {};
    if (c.stalled) alerts.push(["bad", "no new block for " + KC.num(c.since_block, 0) + " s (head #" + c.head + ")"]);
    if ((t.generator || {}).bound) alerts.push(["", "the generator looks saturated (generator-bound): its own limits may cap the offered load"]);
    if (tot.missed) alerts.push(["", tot.missed + " firings missed since the load started"]);
    if (t.phase === "draining") alerts.push(["", "draining: no new firings; in-flight work finishes (deadline as Ctrl-C)"]);
    var box = $("alerts");
    box.textContent = "";
    alerts.forEach(function (a) { box.appendChild(el("div", {"class": a[0]}, a[1])); });
    Object.keys(t.workloads || {}).forEach(function (n) { updateRow(n, t.workloads[n], t.dt); });
  }

  function setPhase(phase) {
    var b = $("phase");
    b.textContent = phase || "waiting";
    b.className = "badge " + (phase || "");
  }

  function row(name) {
    var id = "wl-" + name;
    var tr = $(id);
    if (tr) return tr;
    tr = el("tr", {id: id, "data-workload": name});
    ["name", "target", "profile", "offered", "achieved", "missed"].forEach(function (k) {
      tr.appendChild(el("td", {"class": "c-" + k}, k === "name" ? name : ""));
    });
    var input = el("input", {type: "text", "class": "rate-input", placeholder: "300 or ramp:10-200:60"});
    var set = el("button", {"class": "rate-set"}, "Set");
    var form = el("td");
    form.appendChild(input); form.appendChild(set);
    tr.appendChild(form);
    var pause = el("button", {"class": "pause"}, "Pause");
    var cell = el("td"); cell.appendChild(pause); tr.appendChild(cell);
    set.addEventListener("click", function () { setRate(name, input.value); });
    input.addEventListener("keydown", function (e) { if (e.key === "Enter") setRate(name, input.value); });
    pause.addEventListener("click", function () {
      post(tr.dataset.paused === "true" ? "/api/resume" : "/api/pause", {workload: name});
    });
    document.querySelector("#workloads tbody").appendChild(tr);
    return tr;
  }

  var recent = {};  // the table's rates: means of the last 10 ticks after the target changed
  function mean10(name, w, dt) {
    var r = recent[name], s = [0, 0, 0];
    if (!r || r.target !== w.target) {  // the tick holding the change is shown, not kept
      recent[name] = {target: w.target, ticks: []};
      return [w.offered, w.achieved];
    }
    r.ticks = r.ticks.concat([[w.offered || 0, w.achieved || 0, dt]]).slice(-10);
    r.ticks.forEach(function (x) { s[0] += x[0] * x[2]; s[1] += x[1] * x[2]; s[2] += x[2]; });
    return [s[0] / s[2], w.achieved == null ? null : s[1] / s[2]];
  }

  function updateRow(name, w, dt) {
    var tr = row(name);
    function cell(k, v) { tr.querySelector(".c-" + k).textContent = v; }
    if ("target" in w) cell("target", KC.num(w.target));
    if ("profile" in w) cell("profile", w.profile);
    var rates = dt > 0 && "offered" in w ? mean10(name, w, dt) : [w.offered, w.achieved];
    if ("offered" in w) cell("offered", KC.num(rates[0]));
    if ("achieved" in w) cell("achieved", KC.num(rates[1]));
    if ("missed" in w) cell("missed", w.missed == null ? "—" : String(w.missed));
    if ("paused" in w) {
      tr.dataset.paused = w.paused ? "true" : "false";
      tr.querySelector(".pause").textContent = w.paused ? "Resume" : "Pause";
    }
  }

  function showState(state) {
    page.state = state;
    var run = state.run;
    $("console-panel").hidden = state.mode !== "console";
    if (state.mode === "console") loadRuns();
    var links = state.links || {};
    var span = $("links");
    span.textContent = "";
    [["metrics", "/metrics"], ["kpis", "/kpis"], ["report", "report"]].forEach(function (l, i) {
      var href = links[l[0]] || (l[0] === "report" ? null : l[1]);
      if (!href) return;
      if (span.childNodes.length) span.appendChild(document.createTextNode(" · "));
      span.appendChild(el("a", {href: href, id: "link-" + l[0]}, l[1]));
    });
    document.querySelector("#workloads tbody").textContent = "";
    $("settings").querySelector("tbody").textContent = "";
    if (!run) { $("run-id").textContent = "no run"; setPhase("waiting"); return; }
    $("run-id").textContent = run.id + " (" + run.kind + ")";
    setPhase(run.phase);
    $("steer-note").textContent = run.steerable ? "" : "(not steerable now)";
    Object.keys(run.workloads || {}).forEach(function (n) { updateRow(n, run.workloads[n]); });
    var tbody = $("settings").querySelector("tbody");
    Object.keys(run.settings || {}).sort().forEach(function (k) {
      var tr = el("tr"); tr.appendChild(el("td", {}, k));
      var v = run.settings[k];
      tr.appendChild(el("td", {}, typeof v === "object" ? JSON.stringify(v) : String(v)));
      tbody.appendChild(tr);
    });
  }

  /* ---- control calls ---- */

  function message(text, bad) {
    var m = $("message");
    m.textContent = text;
    m.className = bad ? "err" : "";
  }

  function post(path, body) {
    var headers = {"Content-Type": "application/json"};
    if (TOKEN) headers.Authorization = "Bearer " + TOKEN;
    return fetch(path, {method: "POST", headers: headers, body: JSON.stringify(body)})
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          if (!r.ok) message(path + ": " + (j.error || ("HTTP " + r.status)), true);
          else message(summary(j));
          return {ok: r.ok, status: r.status, body: j};
        });
      }, function (e) { message(path + ": " + e, true); return {ok: false}; });
  }

  function summary(j) {
    if (j.applied) return "rate set: " + Object.keys(j.applied).map(function (n) {
      return n + " → " + j.applied[n].profile; }).join(", ");
    if ("paused" in j) return j.workload + (j.paused ? " paused" : " resumed");
    if (j.stopping) return "stopping: draining (up to " + KC.num(j.drain_timeout) + " s)";
    if (j.run_id) return "started " + j.kind + " " + j.run_id;
    return "done";
  }

  function setRate(name, text) {
    text = (text || "").trim();
    if (!text) { message("give a rate (e.g. 300) or a profile (e.g. ramp:10-200:60)", true); return; }
    var body = {};
    body[name] = /^[0-9]+(\.[0-9]+)?$/.test(text) ? Number(text) : text;
    post("/api/rates", body);
  }

  $("stop").addEventListener("click", function () { post("/api/stop", {}); });
  $("start-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var args = $("start-args").value.trim();
    post("/api/runs", {kind: $("start-kind").value, args: args ? args.split(/\s+/) : []})
      .then(function () { loadRuns(); });
  });

  function loadRuns() {
    fetch("/api/runs").then(function (r) { return r.json(); }).then(function (j) {
      var tbody = document.querySelector("#runs tbody");
      tbody.textContent = "";
      (j.runs || []).forEach(function (r) {
        var f = r.figures || {};
        var tr = el("tr");
        [r.id, r.kind, r.running ? "running" : (r.headline || "no summary"), KC.num(f.tx_per_sec),
         f.success_rate == null ? "—" : KC.num(f.success_rate * 100) + "%",
         KC.seconds(f.latency_p95_sec)].forEach(function (v) { tr.appendChild(el("td", {}, v)); });
        var td = el("td");
        if (r.report) td.appendChild(el("a", {href: r.report}, "report"));
        tr.appendChild(td);
        tbody.appendChild(tr);
      });
    }).catch(function () {});
  }

  /* ---- the feed ---- */

  function addMarker(m) {
    page.markers.push(m);
    var li = el("li", {}, "+" + KC.num(m.elapsed || 0, 1) + " s " + m.what +
                (m.workload ? " " + m.workload : "") + (m.detail ? ": " + m.detail : "") +
                " (" + m.who + ")");
    $("markers").appendChild(li);
  }

  function connect() {
    var es = new EventSource("/api/events");
    es.onopen = function () { $("conn").textContent = "live"; };
    es.onerror = function () {
      $("conn").textContent = "reconnecting…";
      var run = (page.state || {}).run;
      if (!page.state || page.state.mode !== "run" || !run) return;
      // a run alone stops its server when it is done: gone, there is nothing to reconnect to
      fetch("/health", {cache: "no-store"}).catch(function () {
        es.close();
        $("conn").textContent = "run over";
        setPhase("finished");
        message("the run is over and its server has stopped; its files, report.html included, " +
                "are in " + run.dir);
      });
    };
    es.addEventListener("snapshot", function (e) {
      var s = JSON.parse(e.data);
      page.kept = []; page.shape = null; page.markers = [];
      $("markers").textContent = "";
      showState(s.state || {});
      var ticks = s.ticks || [];
      page.build(page.shapeOf(ticks, s.state));
      ticks.forEach(function (t) { page.addTick(t); });
      (s.markers || []).forEach(addMarker);
      if (ticks.length) showTick(ticks[ticks.length - 1]);
      page.redraw();
    });
    es.addEventListener("tick", function (e) {
      var t = JSON.parse(e.data);
      page.addTick(t);
      showTick(t);
      page.redraw();
    });
    es.addEventListener("marker", function (e) { addMarker(JSON.parse(e.data)); page.redraw(); });
    es.addEventListener("end", function (e) {
      var end = JSON.parse(e.data);
      setPhase("finished");
      message("run " + end.run_id + " finished: " + end.headline + " (exit " + end.exit_code + ")");
      if (end.report) {
        var span = $("links");
        if (!$("link-report")) {
          span.appendChild(document.createTextNode(" · "));
          span.appendChild(el("a", {href: end.report, id: "link-report"}, "report"));
        }
      }
      if (page.state && page.state.mode === "console") loadRuns();
    });
  }

  connect();
})();
