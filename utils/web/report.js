/* report.html's charts: drawn from the inline JSON (#kc-report-data) with KC.chart. */
(function () {
  "use strict";
  var d = JSON.parse(document.getElementById("kc-report-data").textContent);
  var charts = [];
  window.kcReport = {charts: charts, data: d};

  function card(parent, id) {
    var c = document.createElement("div");
    c.className = "kc-card";
    c.id = id;
    parent.appendChild(c);
    return c;
  }

  function add(parent, id, spec, columns, markers) {
    var ch = KC.chart(card(parent, id), spec);
    ch.setData(columns);
    if (markers) ch.setMarkers(markers);
    charts.push(ch);
    return ch;
  }

  var thr = document.getElementById("kc-throughput");
  var lat = document.getElementById("kc-latency");
  Object.keys(d.series).forEach(function (name) {
    var s = d.series[name];
    if (thr) add(thr, "thr-" + name, {
      title: s.finished ? name : name + " (sends no transactions)",
      y: {label: "per second", unit: "/s"},
      series: [{label: "target", color: "#9e9e9e", dash: [6, 4], step: true},
               {label: "offered", color: "#1565c0", points: true}]
        .concat(s.finished ? [{label: "achieved", color: "#2e7d32", points: true}] : [])},
      [s.elapsed, s.target, s.offered].concat(s.finished ? [s.achieved] : []), d.markers);
    if (lat && s.finished) add(lat, "lat-" + name, {
      title: name, y: {label: "seconds", unit: "s"}, target: d.latency_target,
      series: [{label: "p50", color: "#90caf9", points: true},
               {label: "p95", color: "#1e88e5", points: true},
               {label: "p99", color: "#0d47a1", points: true}]},
      [s.elapsed, s.p50, s.p95, s.p99], d.markers);
  });

  var cap = document.getElementById("kc-capacity");
  if (cap && d.capacity) {
    var c = d.capacity;
    var knee = c.rate ? [{x: c.rate, label: c.rate_label + " " + KC.num(c.rate) + "/s"}] : [];
    var verdicts = [["pass", "#2e7d32"], ["fail", "#c62828"], ["generator-bound", "#f9a825"],
                    ["provider-throttled", "#6d4c41"]].filter(function (v) {
      return c.verdict.indexOf(v[0]) >= 0; });
    add(cap, "cap-achieved", {
      title: "achieved vs offered", x: {label: "offered (tx/s)", unit: "/s"},
      y: {label: "achieved", unit: "/s"},
      series: [{label: "achieved = offered", color: "#9e9e9e", dash: [2, 3]},
               {label: "achieved", color: "#1565c0"}].concat(verdicts.map(function (v) {
                 return {label: v[0], color: v[1], pointsOnly: true}; }))},
      [c.offered, c.offered, c.achieved].concat(verdicts.map(function (v) {
        return c.achieved.map(function (a, i) { return c.verdict[i] === v[0] ? a : null; });
      })), knee);
    add(cap, "cap-latency", {
      title: "latency vs offered (from intended time)", x: {label: "offered (tx/s)", unit: "/s"},
      y: {label: "seconds (log)", unit: "s", log: true}, target: d.latency_target,
      series: [{label: "p50", color: "#90caf9", points: true},
               {label: "p95", color: "#1e88e5", points: true},
               {label: "p99", color: "#0d47a1", points: true}]},
      [c.offered, c.p50, c.p95, c.p99], knee);
  }
})();
