// Charts drawn as SVG with no library: readings over time with a time axis and units,
// on/off readings as bands, and a device's state history as a coloured strip.
import { h } from "./core.js";
import { t, word, fmtClock, fmtTime, fmtValue, fieldName, fieldIsBool } from "./i18n.js";

const W = 600, PAD_L = 70, PAD_R = 8, PAD_T = 8;

function timeAxis(x0, x1, y, X) {
  const out = [];
  const step = 3 * 3600000, first = Math.ceil(x0 / step) * step;
  for (let x = first; x <= x1; x += step) {
    out.push(h("svg:line", { x1: X(x), x2: X(x), y1: PAD_T, y2: y, stroke: "#ddd" }),
      h("svg:text", { x: X(x), y: y + 14, "text-anchor": "middle" }, fmtClock(new Date(x).toISOString())));
  }
  return out;
}

/** One numeric field over time: line, time axis, the lowest and highest values in their unit. */
function lineChart(s) {
  const H = 140, bottom = H - 22;
  const xs = s.points.map((p) => new Date(p.at).getTime()), ys = s.points.map((p) => p.value);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const X = (x) => PAD_L + ((x - x0) / (x1 - x0)) * (W - PAD_L - PAD_R);
  const Y = (y) => (y1 === y0 ? (PAD_T + bottom) / 2 : bottom - ((y - y0) / (y1 - y0)) * (bottom - PAD_T));
  const name = fieldName(s.field), last = ys[ys.length - 1];
  const svg = h("svg:svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "data-chart": s.field,
    "aria-label": `${name}: ${fmtValue(s.field, last)}` },
  h("svg:title", {}, name),
  timeAxis(x0, x1, bottom, X),
  h("svg:text", { x: PAD_L - 4, y: PAD_T + 10, "text-anchor": "end" }, fmtValue(s.field, y1)),
  h("svg:text", { x: PAD_L - 4, y: bottom, "text-anchor": "end" }, fmtValue(s.field, y0)),
  h("svg:polyline", { points: s.points.map((p, i) => `${X(xs[i]).toFixed(1)},${Y(ys[i]).toFixed(1)}`).join(" "),
    fill: "none", stroke: "#0b5cad", "stroke-width": 3, "vector-effect": "non-scaling-stroke" }),
  s.points.length <= 30 ? s.points.map((p, i) => h("svg:circle", { cx: X(xs[i]).toFixed(1), cy: Y(ys[i]).toFixed(1),
    r: 4, fill: "#0b5cad" })) : null);
  return h("figure", { class: "chart-box" },
    h("figcaption", {}, h("strong", {}, name), `: ${fmtValue(s.field, last)} (${t("min")} ${fmtValue(s.field, y0)}, `
      + `${t("max")} ${fmtValue(s.field, y1)})`), svg);
}

/** An on/off field as bands: green when on, grey when off, with the time axis. */
function bandChart(s) {
  const H = 70, bottom = H - 22;
  const xs = s.points.map((p) => new Date(p.at).getTime());
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1), end = Date.now();
  const X = (x) => PAD_L + ((Math.min(x, x1) - x0) / (x1 - x0)) * (W - PAD_L - PAD_R);
  const name = fieldName(s.field), last = s.points[s.points.length - 1].value;
  const bands = s.points.map((p, i) => {
    const a = xs[i], b = i + 1 < xs.length ? xs[i + 1] : Math.min(end, x1);
    return h("svg:rect", { x: X(a), y: PAD_T, width: Math.max(1, X(b) - X(a)), height: bottom - PAD_T,
      fill: p.value ? "#0a7a32" : "#c9ced6" }, h("svg:title", {}, `${fmtTime(p.at)}: ${p.value ? t("on") : t("off")}`));
  });
  const svg = h("svg:svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "data-chart": s.field,
    "aria-label": `${name}: ${last ? t("on") : t("off")}` },
  h("svg:title", {}, name), bands, timeAxis(x0, x1, bottom, X),
  h("svg:text", { x: PAD_L - 4, y: (PAD_T + bottom) / 2 + 4, "text-anchor": "end" }, last ? t("on") : t("off")));
  return h("figure", { class: "chart-box" },
    h("figcaption", {}, h("strong", {}, name), `: ${last ? t("on") : t("off")}`), svg);
}

export const chartFor = (s) => (fieldIsBool(s.field) ? bandChart(s) : lineChart(s));

/** The state history as a strip, one colour per state, with a legend. */
export function uptimeStrip(history) {
  if (!history.length) return null;
  const end = Date.now(), start = Math.min(...history.map((s) => new Date(s.start).getTime()));
  const X = (x) => ((x - start) / (end - start || 1)) * W;
  return h("figure", { class: "chart-box" },
    h("svg:svg", { viewBox: `0 0 ${W} 30`, class: "chart", role: "img", "aria-label": t("history") },
      history.map((s) => {
        const a = new Date(s.start).getTime(), b = s.end ? new Date(s.end).getTime() : end;
        return h("svg:rect", { x: X(a), y: 2, height: 26, width: Math.max(1, X(b) - X(a)), class: `fill-${s.state}` },
          h("svg:title", {}, `${word("state", s.state)}: ${fmtTime(s.start)} → ${s.end ? fmtTime(s.end) : "…"}`));
      })),
    h("figcaption", { class: "legend" }, ["ok", "degraded", "offline", "unknown"].map((st) =>
      h("span", {}, h("i", { class: `swatch state-bg-${st}` }), word("state", st)))));
}
