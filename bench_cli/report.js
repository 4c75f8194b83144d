// The report page: draws every plot as inline SVG from the JSON embedded in the page (no network, no library).
// Errors are shown in #errors (and counted in body[data-errors]) so a headless browser can check the page.
"use strict";
(function () {
  const errors = [];
  const errorBox = document.getElementById("errors");
  function fail(message) {
    errors.push(message);
    errorBox.textContent = errors.join("\n");
    errorBox.hidden = false;
    document.body.setAttribute("data-errors", String(errors.length));
  }
  window.addEventListener("error", (e) => fail(String(e.message)));

  const DATA = JSON.parse(document.getElementById("report-data").textContent);
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];
  const SVG = "http://www.w3.org/2000/svg";
  const W = 640, H = 300, M = { left: 64, right: 30, top: 28, bottom: 44 };
  let plotsDrawn = 0;

  function node(name, attrs, parent, ns) {
    const e = ns ? document.createElementNS(SVG, name) : document.createElement(name);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    if (parent) parent.appendChild(e);
    return e;
  }
  const svgNode = (name, attrs, parent) => node(name, attrs, parent, true);

  function niceTicks(lo, hi, count) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw);
    const ticks = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(+t.toPrecision(12));
    return ticks;
  }

  function extent(values) {  // not Math.min(...values): spreading a long array overflows the stack
    let lo = Infinity, hi = -Infinity;
    for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
    return [lo, hi];
  }

  function hdrLabel(x) {
    if (x === 0) return "0%";
    const digits = Math.max(0, x - 2);
    return (100 - Math.pow(10, 2 - x)).toFixed(digits) + "%";
  }

  // cfg: {title, x: {label, kind: "linear"|"hdr"}, y: {label, min, max}, series: [{name, style, points, color, legend}]}
  function plot(parent, cfg) {
    const figure = node("figure", { class: "figure" }, parent);
    const svg = svgNode("svg", { class: "plot", viewBox: `0 0 ${W} ${H}`, width: W, height: H, "data-title": cfg.title }, figure);
    svgNode("text", { x: W / 2, y: 16, "text-anchor": "middle", class: "title", text: cfg.title }, svg);
    const pts = cfg.series.flatMap((s) => s.points);
    const xs = pts.map((p) => p[0]), ys = cfg.series.filter((s) => s.style !== "ticks").flatMap((s) => s.points.map((p) => p[1]));
    if (!xs.length) {
      svgNode("text", { x: W / 2, y: H / 2, "text-anchor": "middle", text: "no data" }, svg);
      svg.setAttribute("data-points", "0");
      return;
    }
    let [x0, x1] = extent(xs);
    if (cfg.x.kind === "hdr") { x0 = 0; x1 = Math.max(1, Math.ceil(x1)); }
    if (x1 === x0) { x0 -= 1; x1 += 1; }
    let y0 = cfg.y.min !== undefined ? cfg.y.min : 0, y1 = cfg.y.max !== undefined ? cfg.y.max : Math.max(extent(ys)[1], 0) * 1.05;
    if (!(y1 > y0)) y1 = y0 + 1;
    const sx = (x) => M.left + ((x - x0) / (x1 - x0)) * (W - M.left - M.right);
    const sy = (y) => H - M.bottom - ((y - y0) / (y1 - y0)) * (H - M.top - M.bottom);
    const axis = svgNode("g", { class: "axis" }, svg);
    const xticks = cfg.x.kind === "hdr" ? Array.from({ length: x1 + 1 }, (_, i) => i) : niceTicks(x0, x1, 6);
    for (const t of xticks) {
      svgNode("line", { x1: sx(t), x2: sx(t), y1: M.top, y2: H - M.bottom, class: "grid" }, axis);
      const label = cfg.x.kind === "hdr" ? hdrLabel(t) : String(t);
      svgNode("text", { x: sx(t), y: H - M.bottom + 14, "text-anchor": "middle", text: label }, axis);
    }
    for (const t of niceTicks(y0, y1, 5)) {
      svgNode("line", { x1: M.left, x2: W - M.right, y1: sy(t), y2: sy(t), class: "grid" }, axis);
      svgNode("text", { x: M.left - 6, y: sy(t) + 4, "text-anchor": "end", text: String(t) }, axis);
    }
    svgNode("rect", { x: M.left, y: M.top, width: W - M.left - M.right, height: H - M.top - M.bottom, class: "frame" }, axis);
    svgNode("text", { x: (W + M.left) / 2, y: H - 8, "text-anchor": "middle", text: cfg.x.label }, axis);
    svgNode("text", { x: 14, y: H / 2, transform: `rotate(-90 14 ${H / 2})`, "text-anchor": "middle", text: cfg.y.label }, axis);
    let drawn = 0;
    cfg.series.forEach((s, i) => {
      const color = s.color || COLORS[i % COLORS.length];
      const g = svgNode("g", { class: "series", "data-name": s.name, "data-points": s.points.length }, svg);
      if (s.style === "line" && s.points.length) {
        const d = s.points.map((p, j) => `${j ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
        svgNode("path", { d, fill: "none", stroke: color, "stroke-width": 1.8 }, g);
      } else if (s.style === "ticks") {
        const top = M.top + 12 * (s.row || 0);  // lost marks along the top edge, late ones just below
        for (const p of s.points) svgNode("line", { x1: sx(p[0]), x2: sx(p[0]), y1: top, y2: top + 10, stroke: color }, g);
      } else {
        const r = s.style === "faint" ? 1.2 : 1.8;
        for (const p of s.points) svgNode("circle", { cx: sx(p[0]).toFixed(1), cy: sy(p[1]).toFixed(1), r, fill: color, opacity: s.style === "faint" ? 0.35 : 0.9 }, g);
      }
      drawn += s.points.length;
    });
    const legend = node("div", { class: "legend" }, figure);
    cfg.series.forEach((s, i) => {
      if (s.legend === false) return;
      const item = node("span", {}, legend);
      node("i", { style: `background:${s.color || COLORS[i % COLORS.length]}` }, item);
      item.appendChild(document.createTextNode(s.name));
    });
    svg.setAttribute("data-points", String(drawn));
    plotsDrawn += 1;
  }

  function table(parent, head, rows) {
    const t = node("table", {}, parent);
    const tr = node("tr", {}, node("thead", {}, t));
    head.forEach((h) => node("th", { text: h }, tr));
    const body = node("tbody", {}, t);
    for (const row of rows) {
      const r = node("tr", {}, body);
      row.forEach((c) => node("td", { text: c === null || c === undefined ? "n/a" : String(c) }, r));
    }
    return t;
  }

  function safely(what, draw) {
    try { draw(); } catch (e) { fail(`${what}: ${e && e.stack ? e.stack : e}`); }
  }

  const root = document.getElementById("report");
  const groups = DATA.groups;
  const stat = (g, name) => (g.table.find((r) => r[0] === name) || [])[1];
  const ms = (g, name) => { const v = stat(g, name); return typeof v === "number" ? v.toFixed(3) : v; };
  node("h2", { text: "Overview" }, root);
  table(root, ["platform", "location", "day", "runs", "pings", "loss", "p50 ms", "p99 ms", "p99.9 ms", "max ms"],
    groups.map((g) => [g.platform, g.location, g.day, stat(g, "runs"), stat(g, "pings"), stat(g, "loss rate"),
      ms(g, "p50 RTT"), ms(g, "p99 RTT"), ms(g, "p99.9 RTT"), ms(g, "max RTT")]));

  // Where the time goes: one stacked bar per group, the wire (the stacks' own RTT) then the endpoints.
  function splitBars(parent) {
    const figure = node("figure", { class: "figure" }, parent);
    const rowH = 22, h = M.top + groups.length * rowH + 30;
    const svg = svgNode("svg", { class: "plot", viewBox: `0 0 ${W} ${h}`, width: W, height: h, "data-title": "split" }, figure);
    svgNode("text", { x: W / 2, y: 16, "text-anchor": "middle", class: "title", text: "RTT p50 = wire + endpoints (ms)" }, svg);
    const top = Math.max(1e-9, ...groups.map((g) => g.split.rtt_p50 || 0));
    const sx = (v) => (v / top) * (W - 180 - M.right);
    let bars = 0;
    groups.forEach((g, i) => {
      const y = M.top + i * rowH, s = g.split;
      const bar = svgNode("g", { class: "split", "data-name": g.label, "data-wire": s.wire, "data-endpoints": s.endpoints }, svg);
      svgNode("text", { x: 170, y: y + 14, "text-anchor": "end", text: g.label }, bar);
      if (s.wire === null || s.rtt_p50 === null) {
        svgNode("text", { x: 176, y: y + 14, text: s.rtt_p50 === null ? "no RTT" : `${s.rtt_p50.toFixed(3)}: transport RTT missing` }, bar);
        return;
      }
      const wire = Math.max(0, s.wire), ends = Math.max(0, s.rtt_p50 - wire);
      svgNode("rect", { x: 176, y, width: sx(wire), height: rowH - 6, fill: COLORS[0] }, bar);
      svgNode("rect", { x: 176 + sx(wire), y, width: sx(ends), height: rowH - 6, fill: COLORS[1] }, bar);
      svgNode("text", { x: 180 + sx(wire + ends), y: y + 14, text: `${s.wire.toFixed(3)} + ${s.endpoints.toFixed(3)} (${s.source || "mixed sources"})` }, bar);
      bars += 1;
    });
    const legend = node("div", { class: "legend" }, figure);
    [["wire: the stack's own RTT", COLORS[0]], ["endpoints: SDKs, SFU, agent", COLORS[1]]].forEach(([name, color]) => {
      const item = node("span", {}, legend);
      node("i", { style: `background:${color}` }, item);
      item.appendChild(document.createTextNode(name));
    });
    svg.setAttribute("data-points", String(bars));
    plotsDrawn += 1;
  }
  node("h2", { text: "Where the time goes" }, root);
  safely("split", () => splitBars(root));

  const hdrAxis = { label: "percentile (log scale of 1/(1−p))", kind: "hdr" };
  const rttAxis = { label: "RTT (ms)" };
  node("h2", { text: "All locations and days, by platform" }, root);
  safely("platforms", () => plot(root, { title: "RTT by percentile, each platform merged", x: hdrAxis, y: rttAxis,
    series: DATA.platforms.map((p) => ({ name: p.label, style: "line", points: p.percentiles })) }));

  for (const loc of DATA.locations) {
    const section = node("section", {}, root);
    node("h2", { text: `Location ${loc.name}` }, section);
    const members = loc.groups.map((i) => groups[i]);
    const row = node("div", { class: "row" }, section);
    safely(`${loc.name} percentiles`, () => plot(row, { title: `RTT by percentile — ${loc.name}`, x: hdrAxis, y: rttAxis,
      series: members.map((g) => ({ name: g.label, style: "line", points: g.percentiles })) }));
    safely(`${loc.name} cdf`, () => plot(row, { title: `CDF of RTT — ${loc.name}`, x: { label: "RTT (ms)", kind: "linear" },
      y: { label: "fraction ≤ RTT", min: 0, max: 1 }, series: members.map((g) => ({ name: g.label, style: "line", points: g.cdf })) }));
    for (const g of members) {
      node("h3", { text: g.label }, section);
      const grow = node("div", { class: "row" }, section);
      const sinceStart = { label: "seconds since the run started", kind: "linear" };
      safely(`${g.label} rtt`, () => plot(grow, { title: `RTT over time — ${g.label}`, x: sinceStart, y: rttAxis,
        series: g.rtt_over_time.flatMap((r, i) => {
          const color = COLORS[i % COLORS.length], sliced = r.max.length > 0;
          return [
            { name: `${r.label}${sliced ? ": median (grey: max) per slice" : ""}`, style: "dots", points: r.median, color },
            ...(sliced ? [{ name: "max per slice", style: "faint", points: r.max, color: "#999", legend: false }] : []),
            { name: `lost (${r.lost_count})`, style: "ticks", points: r.lost.map((t) => [t, 0]), color: "#111", legend: r.lost_count > 0 },
            { name: `late (${r.late_count})`, style: "ticks", row: 1, points: r.late.map((t) => [t, 0]), color: "#ff7f0e", legend: r.late_count > 0 },
          ];
        }) }));
      safely(`${g.label} loss`, () => plot(grow, { title: `Loss over time — ${g.label}`, x: sinceStart,
        y: { label: "share of pings lost", min: 0, max: 1 },
        series: g.loss_over_time.flatMap((r, i) => [
          { name: r.label, style: "line", points: r.points, color: COLORS[i % COLORS.length] },
          ...(r.upstream.some((p) => p[1] > 0) ? [{ name: `${r.label}: upstream`, style: "dots", points: r.upstream, color: "#d62728" }] : []),
          ...(r.downstream.some((p) => p[1] > 0) ? [{ name: `${r.label}: downstream`, style: "dots", points: r.downstream, color: "#9467bd" }] : []),
        ]) }));
      safely(`${g.label} directions`, () => plot(grow, { title: `One-way delay above its minimum, up vs down — ${g.label}`,
        x: { label: "percentile", kind: "linear" }, y: { label: "relative one-way delay (ms)" },
        series: g.owd_variation.flatMap((r, i) => [
          { name: `${r.label}: upstream`, style: "line", points: r.upstream, color: COLORS[(2 * i) % COLORS.length] },
          { name: `${r.label}: downstream`, style: "line", points: r.downstream, color: COLORS[(2 * i + 1) % COLORS.length] },
        ]) }));
      node("p", { class: "note", text: `Marks along the top: lost pings (black) and, below them, lost pings whose pong came after the timeout (late, orange; ${g.late} late pong(s) in all, warmup included).` }, section);
      table(section, ["statistic (ms unless named)", "value"], g.table);
      const details = node("details", {}, section);
      node("summary", { text: `every statistic of each of the ${g.runs.length} run(s)` }, details);
      const keys = Object.keys(g.runs[0] || {});
      table(details, ["statistic", ...g.runs.map((r) => r.run_id)], keys.filter((k) => k !== "run_id").map((k) => [k, ...g.runs.map((r) => r[k])]));
    }
  }
  document.body.setAttribute("data-plots-drawn", String(plotsDrawn));
  document.body.setAttribute("data-errors", String(errors.length));
})();
