/* kcstress live console: draws the run's ticks from /api/events (Server-Sent Events) and
 * steers it through the JSON API (docs/console.md). The token, when the page was opened
 * with ?token=..., is sent as a header on control calls and nowhere else. */
(function () {
  "use strict";

  var MAX_POINTS = 3600;
  var OUTCOMES = ["success", "reverted", "rejected", "dropped", "timeout", "reorged"];
  var OUTCOME_COLORS = {success: "#2e7d32", reverted: "#f9a825", rejected: "#c62828",
                        dropped: "#6a1b9a", timeout: "#546e7a", reorged: "#ff7043"};
  var PALETTE = ["#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#5d4037"];
  var STAGES = ["validate", "encrypt", "store", "commit", "total"];
  var TOKEN = new URLSearchParams(location.search).get("token");
  if (TOKEN && history.replaceState) history.replaceState(null, "", location.pathname);

  var page = {charts: {}, defs: [], xs: [], cols: {}, markers: [], state: null, ticks: 0,
              workloads: [], lastTick: null};
  window.kcConsole = page;

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text != null) e.textContent = text;
    return e;
  }
  function perSec(count, dt) { return count == null || !dt ? null : count / dt; }
  function color(i) { return PALETTE[i % PALETTE.length]; }

  /* ---- the charts: one definition per chart, each picking its values from a tick ---- */

  function workloadDefs(name, withLatency) {
    function wl(t) { return (t.workloads || {})[name] || {}; }
    function lat(t, q) { return (wl(t).latency || {})[q]; }
    return [
      {id: "thr-" + name, group: "Offered vs achieved", spec: {
        title: name + ": offered vs achieved", y: {label: "per second", unit: "/s"},
        series: [{label: "target", color: "#9e9e9e", dash: [6, 4], step: true},
                 {label: "offered", color: "#1565c0"}, {label: "achieved", color: "#2e7d32"}]},
       pick: function (t) { var w = wl(t); return [w.target, w.offered, w.achieved]; }},
      {id: "lat-" + name, group: "Latency (from intended send time)", spec: {
        title: name + ": latency p50 / p95 / p99", y: {label: "seconds", unit: "s"},
        target: latencyTarget(),
        series: [{label: "p50", color: "#90caf9"}, {label: "p95", color: "#1e88e5"},
                 {label: "p99", color: "#0d47a1"}]},
       pick: function (t) { return [lat(t, "p50"), lat(t, "p95"), lat(t, "p99")]; }},
    ].filter(function (d) { return withLatency || d.id.indexOf("lat-") !== 0; });
  }

  function latencyTarget() {
    var s = ((page.state || {}).run || {}).settings || {};
    var v = s.target_max_latency_sec;
    return v != null ? {value: Number(v), label: "target p95 ≤ " + KC.seconds(Number(v))} : null;
  }

  function sum(t, f) {
    var total = null;
    Object.keys(t.workloads || {}).forEach(function (n) {
      var v = f(t.workloads[n]);
      if (v != null) total = (total || 0) + v;
    });
    return total;
  }

  function runDefs(names, goodput, stages) {
    var defs = [];
    defs.push({id: "outcomes", group: "Outcomes and firings", spec: {
      title: "outcomes by kind (all workloads)", y: {label: "per second", unit: "/s"},
      series: OUTCOMES.map(function (o) { return {label: o, color: OUTCOME_COLORS[o]}; })},
      pick: function (t) { return OUTCOMES.map(function (o) {
        return perSec(sum(t, function (w) { return (w.outcomes || {})[o]; }), t.dt); }); }});
    defs.push({id: "firings", group: "Outcomes and firings", spec: {
      title: "missed and late firings", y: {label: "per second", unit: "/s"},
      series: [{label: "missed", color: "#c62828"}, {label: "late", color: "#ef6c00"}]},
      pick: function (t) { return [perSec(sum(t, function (w) { return w.missed; }), t.dt),
                                   perSec(sum(t, function (w) { return w.late; }), t.dt)]; }});
    defs.push({id: "gas", group: "Costs per operation", spec: {
      title: "L2 and L1 gas per operation", y: {label: "gas", unit: "gas"},
      series: names.reduce(function (a, n, i) {
        return a.concat([{label: n + " L2", color: color(i)},
                         {label: n + " L1", color: color(i), dash: [4, 3]}]); }, [])},
      pick: function (t) { return names.reduce(function (a, n) {
        var w = (t.workloads || {})[n] || {}; return a.concat([w.l2_gas_per_op, w.l1_gas_per_op]);
      }, []); }});
    defs.push({id: "fee", group: "Costs per operation", spec: {
      title: "fee per operation", y: {label: "gwei", unit: "gwei"},
      series: names.map(function (n, i) { return {label: n, color: color(i)}; })},
      pick: function (t) { return names.map(function (n) {
        return ((t.workloads || {})[n] || {}).fee_per_op_gwei; }); }});
    if (goodput.length) defs.push({id: "goodput", group: "Costs per operation", spec: {
      title: "goodput: completed business operations", y: {label: "per second", unit: "/s"},
      series: goodput.map(function (k, i) { return {label: k.join(" "), color: color(i)}; })},
      pick: function (t) { return goodput.map(function (k) {
        return ((t.goodput || {})[k[0]] || {})[k[1]]; }); }});
    if (stages.length) {
      defs.push({id: "iot-stages", group: "IoT pipeline", spec: {
        title: "IoT stage latency p95", y: {label: "seconds (log)", unit: "s", log: true},
        series: stages.map(function (s, i) { return {label: s, color: color(i)}; })},
        pick: function (t) { return stages.map(function (s) {
          return (((t.iot || {}).stages || {})[s] || {}).p95; }); }});
      defs.push({id: "iot-backlog", group: "IoT pipeline", spec: {
        title: "IoT records by commit status", y: {label: "records", unit: ""},
        y2: {label: "committed", unit: ""},
        series: [{label: "pending", color: "#ef6c00"}, {label: "submitted", color: "#1565c0"},
                 {label: "failed", color: "#c62828"},
                 {label: "committed", color: "#2e7d32", right: true}]},
        pick: function (t) { var r = (t.iot || {}).records || {};
          return [r.pending, r.submitted, r.failed, r.committed]; }});
    }
    defs.push({id: "generator", group: "Generator and chain", spec: {
      title: "the generator's self-watch", y: {label: "share of a core", unit: "%"},
      y2: {label: "loop lag p99", unit: "s"},
      series: [{label: "process CPU", color: "#1565c0"}, {label: "loop CPU", color: "#00838f"},
               {label: "generator-bound", color: "#c62828", step: true},
               {label: "loop lag p99", color: "#ef6c00", right: true}]},
      pick: function (t) { var g = t.generator || {};
        return [g.process_cpu, g.loop_cpu, g.bound == null ? null : (g.bound ? 1 : 0),
                g.loop_lag_p99]; }});
    defs.push({id: "chain", group: "Generator and chain", spec: {
      title: "chain: head and block time", y: {label: "block", unit: "", zero: false},
      y2: {label: "block time", unit: "s"},
      series: [{label: "head", color: "#37474f", step: true},
               {label: "block time", color: "#8e24aa", right: true}]},
      pick: function (t) { var c = t.chain || {}; return [c.head, c.block_time]; }});
    defs.push({id: "basefee", group: "Generator and chain", spec: {
      title: "base fee", y: {label: "gwei", unit: "gwei"},
      series: [{label: "base fee", color: "#5d4037", step: true}]},
      pick: function (t) { return [(t.chain || {}).base_fee_gwei]; }});
    return defs;
  }

  function shapeOf(ticks, state) {
    var names = {}, goodput = {}, stages = {}, timed = {};
    var wl = (((state || {}).run || {}).workloads) || {};
    Object.keys(wl).forEach(function (n) { if (wl[n].target || wl[n].paused) names[n] = 1; });
    ticks.forEach(function (t) {
      Object.keys(t.workloads || {}).forEach(function (n) {
        var w = t.workloads[n];  // a workload at rate 0 that offered nothing gets no chart
        if (w.target || w.offered || w.in_flight || w.paused) names[n] = 1;
        if (w.latency && w.latency.p50 != null) timed[n] = 1;  // it sends transactions
      });
      Object.keys(t.goodput || {}).forEach(function (w) {
        Object.keys(t.goodput[w] || {}).forEach(function (op) { goodput[w + "\u0000" + op] = 1; });
      });
      Object.keys(((t.iot || {}).stages) || {}).forEach(function (s) { stages[s] = 1; });
      if (t.iot) stages.commit = stages.commit || 0;
    });
    var st = STAGES.filter(function (s) { return s in stages; });
    Object.keys(stages).sort().forEach(function (s) { if (st.indexOf(s) < 0) st.push(s); });
    return {names: Object.keys(names).sort(), stages: st, timed: Object.keys(timed).sort(),
            goodput: Object.keys(goodput).sort().map(function (k) { return k.split("\u0000"); })};
  }

  function sameShape(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

  function build(shape) {
    var root = $("charts");
    root.textContent = "";
    page.charts = {}; page.cols = {}; page.xs = []; page.shape = shape;
    page.defs = [];
    shape.names.forEach(function (n) {
      page.defs = page.defs.concat(workloadDefs(n, shape.timed.indexOf(n) >= 0));
    });
    page.defs = page.defs.concat(runDefs(shape.timed, shape.goodput, shape.stages));
    var grids = {};
    page.defs.forEach(function (d) {
      if (!grids[d.group]) {
        root.appendChild(el("h2", {"class": "group"}, d.group));
        grids[d.group] = root.appendChild(el("div", {"class": "kc-grid"}));
      }
      var card = grids[d.group].appendChild(el("div", {"class": "kc-card", id: "card-" + d.id}));
      page.charts[d.id] = KC.chart(card, d.spec);
      page.cols[d.id] = d.spec.series.map(function () { return []; });
    });
  }

  function addTick(t) {
    if (t.phase === "setup" || t.elapsed == null) return false;
    var shape = shapeOf([t], page.state);
    var merged = mergeShape(page.shape, shape);
    if (!page.shape || !sameShape(merged, page.shape)) {
      var keep = page.kept || [];
      build(merged);
      keep.forEach(function (k) { push(k); });
    }
    push(t);
    return true;
  }

  function mergeShape(a, b) {
    if (!a) return b;
    function union(x, y) {
      var out = x.slice();
      y.forEach(function (v) { if (!out.some(function (o) { return sameShape(o, v); })) out.push(v); });
      return out;
    }
    var stages = union(a.stages, b.stages);
    return {names: union(a.names, b.names).sort(), timed: union(a.timed, b.timed).sort(),
            stages: STAGES.filter(function (s) { return stages.indexOf(s) >= 0; })
              .concat(stages.filter(function (s) { return STAGES.indexOf(s) < 0; })),
            goodput: union(a.goodput, b.goodput)};
  }

  function push(t) {
    page.kept = (page.kept || []).concat([t]).slice(-MAX_POINTS);
    page.xs.push(t.elapsed);
    page.defs.forEach(function (d) {
      var values = d.pick(t), cols = page.cols[d.id];
      values.forEach(function (v, i) { cols[i].push(v == null ? null : Number(v)); });
      if (page.xs.length > MAX_POINTS) cols.forEach(function (c) { c.shift(); });
    });
    if (page.xs.length > MAX_POINTS) page.xs.shift();
  }

  function redraw() {
    page.defs.forEach(function (d) {
      page.charts[d.id].setData([page.xs.slice()].concat(page.cols[d.id].map(function (c) {
        return c.slice(); })));
    });
    var list = page.markers.map(function (m) {
      return {x: m.elapsed, label: m.what + (m.workload ? " " + m.workload : "") +
              (m.what === "phase" ? " " + m.detail : "")}; });
    Object.keys(page.charts).forEach(function (id) { page.charts[id].setMarkers(list); });
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

  function updateRow(name, w, dt) {
    var tr = row(name);
    function cell(k, v) { tr.querySelector(".c-" + k).textContent = v; }
    if ("target" in w) cell("target", KC.num(w.target));
    if ("profile" in w) cell("profile", w.profile);
    if ("offered" in w) cell("offered", KC.num(w.offered));
    if ("achieved" in w) cell("achieved", KC.num(w.achieved));
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
      build(shapeOf(ticks, s.state));
      ticks.forEach(function (t) { addTick(t); });
      (s.markers || []).forEach(addMarker);
      if (ticks.length) showTick(ticks[ticks.length - 1]);
      redraw();
    });
    es.addEventListener("tick", function (e) {
      var t = JSON.parse(e.data);
      addTick(t);
      showTick(t);
      redraw();
    });
    es.addEventListener("marker", function (e) { addMarker(JSON.parse(e.data)); redraw(); });
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
