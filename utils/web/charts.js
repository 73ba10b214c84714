/* kcstress chart helpers over uPlot, shared by the live page (/) and report.html.
 *
 * KC.chart(parent, spec) makes one chart of series over x (seconds elapsed, or offered rate):
 *   spec = {title, x: {label}, y: {label, unit: "s"|"gas"|"gwei"|"/s"|"%"|"", log, zero},
 *           y2: {label, unit} (a right-hand axis, for series with right: true),
 *           series: [{label, color, dash, step, right, points, spanGaps}],
 *           target: {value, label},
 *           height}
 * and returns {plot, setData(columns), setMarkers(list), setTarget(t)}; columns are
 * [xs, ys1, ys2, ...] with null for "not known" (drawn as a gap). Markers are
 * {x, label} drawn as labelled vertical lines; a target is a horizontal line drawn only when
 * it lies within the data's range, else as a labelled arrow at the edge (the data keeps
 * the scale). Hover shows every series' value in the legend; drag zooms, double-click
 * resets. Numbers are plain ("4 ms", "1.2 s", "51k"), never "4×10⁰".
 */
(function () {
  "use strict";

  var SUPERS = ["", "k", "M", "G", "T", "P"];

  function num(v, digits) {
    if (v == null || !isFinite(v)) return "—";
    var a = Math.abs(v);
    if (a >= 1e4) {
      var i = Math.min(Math.floor(Math.log10(a) / 3), SUPERS.length - 1);
      var s = v / Math.pow(1000, i);
      return (Math.abs(s) >= 100 ? s.toFixed(0) : Math.abs(s) >= 10 ? s.toFixed(1) : s.toFixed(2))
        .replace(/\.0+$/, "") + SUPERS[i];
    }
    if (digits != null) return v.toFixed(digits);
    if (a === 0) return "0";
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1).replace(/\.0$/, "");
    // under 1, three significant digits: a 0.075 gwei tick read "0.07" (toFixed(2) of 0.0749…)
    if (a >= 0.01) return (a >= 1 ? v.toFixed(2) : v.toPrecision(3)).replace(/\.?0+$/, "");
    return v.toPrecision(2);
  }

  function seconds(v) {
    if (v == null || !isFinite(v)) return "—";
    var a = Math.abs(v);
    if (a === 0) return "0";
    if (a < 1e-3) return num(v * 1e6) + " µs";
    if (a < 1) return num(v * 1e3) + " ms";
    if (a < 120) return num(v) + " s";
    return num(v / 60) + " min";
  }

  function format(unit) {
    if (unit === "s") return seconds;
    if (unit === "%") return function (v) { return v == null ? "—" : num(v * 100) + "%"; };
    return function (v) { return v == null ? "—" : num(v) + (unit && unit !== "gas" ? " " + unit : ""); };
  }

  function axisValues(unit) {
    var f = format(unit);
    return function (u, splits) { return splits.map(function (v) { return v == null ? "" : f(v); }); };
  }

  // A y axis as wide as its longest tick label (and its title) needs.
  function axisWidth(u, values) {
    var longest = (values || []).reduce(function (m, v) { return Math.max(m, (v || "").length); }, 0);
    return Math.max(48, Math.ceil(longest * 6.6) + 30);
  }

  // A linear range from the data only (zero at the bottom when asked), never [null, null].
  function linearRange(zero) {
    return function (u, min, max) {
      if (min == null || max == null || !isFinite(min) || !isFinite(max)) return [0, 1];
      var lo = zero ? Math.min(0, min) : min;
      var hi = max;
      if (hi === lo) hi = lo + (Math.abs(lo) || 1);
      return [lo, hi + (hi - lo) * 0.08];
    };
  }

  // On a log axis, ticks and grid lines at the powers of ten only.
  function decades(u, splits) {
    return splits.map(function (v) {
      var e = Math.log10(v);
      return Math.abs(e - Math.round(e)) < 1e-9 ? v : null;
    });
  }

  function logRange(u, min, max) {
    if (min == null || max == null || !(min > 0) || !(max > 0)) return [1e-3, 1];
    var lo = Math.pow(10, Math.floor(Math.log10(min)));
    var hi = Math.pow(10, Math.ceil(Math.log10(max)));
    if (hi === lo) hi = lo * 10;
    return [lo, hi];
  }

  // Labelled dashed lines; labels in three rows (below the target's arrow when it is at the
  // top), drawn left of their line when they would pass the plot's right edge.
  function drawMarkers(u, markers, firstRow) {
    var ctx = u.ctx, box = u.bbox, px = window.devicePixelRatio || 1;
    ctx.save();
    ctx.font = Math.round(10 * px) + "px system-ui, sans-serif";
    ctx.textAlign = "left";  // uPlot leaves the axes' alignment on the context
    ctx.textBaseline = "top";
    markers.forEach(function (m, i) {
      if (m.x < u.scales.x.min || m.x > u.scales.x.max) return;
      var x = Math.round(u.valToPos(m.x, "x", true));
      ctx.strokeStyle = "#8e24aa";
      ctx.setLineDash([4 * px, 3 * px]);
      ctx.lineWidth = px;
      ctx.beginPath();
      ctx.moveTo(x, box.top);
      ctx.lineTo(x, box.top + box.height);
      ctx.stroke();
      ctx.fillStyle = "#6a1b9a";
      var w = ctx.measureText(m.label).width;
      var left = x + 3 * px + w > box.left + box.width ? x - 3 * px - w : x + 3 * px;
      ctx.fillText(m.label, left, box.top + 2 * px + (firstRow + i % 3) * 11 * px);
    });
    ctx.restore();
  }

  // True when the target is drawn as an arrow at the top (above the data).
  function drawTarget(u, target, scale, unit) {
    if (!target || target.value == null) return false;
    var ctx = u.ctx, box = u.bbox, px = window.devicePixelRatio || 1;
    var sc = u.scales[scale];
    var label = target.label || ("target " + format(unit)(target.value));
    ctx.save();
    ctx.font = Math.round(10 * px) + "px system-ui, sans-serif";
    ctx.textAlign = "left";
    ctx.fillStyle = ctx.strokeStyle = "#c62828";
    ctx.lineWidth = px;
    var above = target.value > sc.max;
    if (target.value >= sc.min && !above) {
      var y = Math.round(u.valToPos(target.value, scale, true));
      ctx.setLineDash([6 * px, 4 * px]);
      ctx.beginPath();
      ctx.moveTo(box.left, y);
      ctx.lineTo(box.left + box.width, y);
      ctx.stroke();
      ctx.textBaseline = "bottom";
      ctx.fillText(label, box.left + 4 * px, y - 2 * px);
    } else {
      ctx.textBaseline = above ? "top" : "bottom";
      var text = (above ? "▲ " : "▼ ") + label + (above ? " (above the data)" : " (below)");
      var w = ctx.measureText(text).width;
      ctx.fillText(text, box.left + box.width - w - 4 * px,
                   above ? box.top + 2 * px : box.top + box.height - 2 * px);
    }
    ctx.restore();
    return above;
  }

  // Points drawn where a value stands alone between gaps (no line reaches it), so a figure
  // known in one interval only is still seen.
  function lonely(u, si, show) {
    if (show) return null;
    var d = u.data[si], out = [];
    for (var i = 0; i < d.length; i++) {
      if (d[i] != null && (i === 0 || d[i - 1] == null) && (i === d.length - 1 || d[i + 1] == null)) out.push(i);
    }
    return out.length ? out : null;
  }

  function seriesOpts(spec, s) {
    var unit = s.right ? (spec.y2 || {}).unit : (spec.y || {}).unit;
    var f = format(unit);
    var o = {
      label: s.label,
      stroke: s.color || "#1565c0",
      width: s.width || 1.5,
      scale: s.right ? "y2" : "y",
      value: function (u, v) { return f(v); },
      spanGaps: !!s.spanGaps,  // runs overlaid on one x axis: each run's null is the others' x
      points: {show: s.points != null ? s.points : false, size: 4, filter: lonely},
    };
    if (s.dash) o.dash = s.dash;
    if (s.pointsOnly) {  // a scatter: no line, every value a point
      o.paths = function () { return null; };
      o.points = {show: true, size: 8, fill: s.color, stroke: s.color};
    }
    if (s.step && uPlot.paths && uPlot.paths.stepped) o.paths = uPlot.paths.stepped({align: 1});
    if (s.bars && uPlot.paths && uPlot.paths.bars) {
      o.paths = uPlot.paths.bars({size: [0.6, 40]});
      o.fill = s.color;
    }
    return o;
  }

  function chart(parent, spec) {
    var box = document.createElement("div");
    box.className = "kc-chart";
    parent.appendChild(box);
    var y = spec.y || {}, y2 = spec.y2;
    var state = {markers: [], target: spec.target || null};
    var scales = {
      x: {time: false},
      y: y.log ? {distr: 3, log: 10, range: logRange} : {range: linearRange(y.zero !== false)},
    };
    var axes = [
      {label: (spec.x || {}).label || "elapsed (s)", values: axisValues((spec.x || {}).unit || ""),
       size: 36, labelSize: 18},
      {label: y.label || "", values: axisValues(y.unit || ""), size: axisWidth, labelSize: 18,
       filter: y.log ? decades : undefined,
       grid: y.log ? {filter: decades} : undefined, ticks: y.log ? {filter: decades} : undefined},
    ];
    if (y2) {
      scales.y2 = y2.log ? {distr: 3, log: 10, range: logRange} : {range: linearRange(true)};
      axes.push({label: y2.label || "", scale: "y2", side: 1, grid: {show: false},
                 values: axisValues(y2.unit || ""), size: axisWidth, labelSize: 18,
                 filter: y2.log ? decades : undefined});
    }
    var series = [{label: (spec.x || {}).label || "elapsed (s)",
                   value: function (u, v) { return v == null ? "—" : num(v); }}];
    (spec.series || []).forEach(function (s) { series.push(seriesOpts(spec, s)); });
    var width = Math.max(280, box.clientWidth || parent.clientWidth || 600);
    var opts = {
      title: spec.title || "",
      width: width,
      height: spec.height || 220,
      scales: scales,
      axes: axes,
      series: series,
      cursor: {drag: {x: true, y: false}},
      legend: {live: true},
      hooks: {
        draw: [function (u) {
          var above = drawTarget(u, state.target, "y", y.unit || "");
          drawMarkers(u, state.markers, above ? 1 : 0);
        }],
      },
    };
    var empty = [[]];
    (spec.series || []).forEach(function () { empty.push([]); });
    var plot = new uPlot(opts, empty, box);
    if (window.ResizeObserver) {
      var last = width;
      new ResizeObserver(function () {
        var w = Math.max(280, Math.floor(box.clientWidth));
        if (Math.abs(w - last) > 4) { last = w; plot.setSize({width: w, height: opts.height}); }
      }).observe(box);
    }
    // With the pointer elsewhere, the legend shows the last values (after uPlot's own
    // cursor update, which blanks it).
    function showLast() {
      window.requestAnimationFrame(function () {
        var n = plot.data[0].length;
        if (n && !(plot.cursor.left >= 0)) plot.setLegend({idx: n - 1});
      });
    }
    plot.over.addEventListener("mouseleave", showLast);
    var zoomed = false;
    plot.over.addEventListener("mouseup", function () { zoomed = true; });
    plot.over.addEventListener("dblclick", function () { zoomed = false; });
    return {
      plot: plot,
      el: box,
      setData: function (columns) {
        if (y.log) columns = columns.map(function (c, i) {
          return i === 0 ? c : c.map(function (v) { return v != null && v > 0 ? v : null; });
        });
        plot.setData(columns, !zoomed);
        showLast();
      },
      setMarkers: function (list) { state.markers = list || []; plot.redraw(false, false); },
      setTarget: function (t) { state.target = t; plot.redraw(false, false); },
    };
  }

  window.KC = {chart: chart, num: num, seconds: seconds, format: format};
})();
