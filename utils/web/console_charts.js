/* kcstress live console: its charts. Each chart is a definition picking its values from a
 * tick (docs/console.md); the set of charts follows the workloads, goodput operations and IoT
 * stages the ticks carry. Shared with console.js through window.kcConsole (the page's state:
 * charts, the points drawn, markers, the last tick), whose build, addTick and redraw are here. */
(function () {
  "use strict";

  var MAX_POINTS = 3600;
  var OUTCOMES = ["success", "reverted", "rejected", "dropped", "timeout", "reorged"];
  var OUTCOME_COLORS = {success: "#2e7d32", reverted: "#f9a825", rejected: "#c62828",
                        dropped: "#6a1b9a", timeout: "#546e7a", reorged: "#ff7043"};
  var PALETTE = ["#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#5d4037"];
  var STAGES = ["validate", "encrypt", "store", "commit", "total"];

  var page = {charts: {}, defs: [], xs: [], cols: {}, markers: [], state: null, ticks: 0,
              lastTick: null};
  window.kcConsole = page;

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
    var root = document.getElementById("charts");
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

  page.shapeOf = shapeOf;
  page.build = build;
  page.addTick = addTick;
  page.redraw = redraw;
})();
