// Charts drawn as SVG with no library: readings over time with a time axis and units,
// on/off readings as bands, and a device's state history as a coloured strip.
import { h } from "./core.js";
import { t, word, fmtTime, fmtValue, fieldName, fieldIsBool, fieldIsMoment } from "./i18n.js";

// Drawn in a box 300 × 100 that stretches to the card; all words (values, times) are HTML
// beside the drawing, so they keep their size on a phone as on a desk.
const W = 300, H = 100, PAD = 6;

/** The time axis under a chart: its first, middle and last moments. */
function timeAxis(x0, x1) {
  const at = (x) => h("span", {}, fmtTime(new Date(x).toISOString()));
  return h("div", { class: "chart-axis", "aria-hidden": "true" }, at(x0), x1 - x0 > 60000 ? at((x0 + x1) / 2) : null,
    at(x1));
}

/** One numeric field over time: a line, its lowest and highest values in their unit, the time axis. */
function lineChart(s) {
  const xs = s.points.map((p) => new Date(p.at).getTime()), ys = s.points.map((p) => p.value);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const X = (x) => PAD + ((x - x0) / (x1 - x0)) * (W - 2 * PAD);
  const Y = (y) => (y1 === y0 ? H / 2 : H - PAD - ((y - y0) / (y1 - y0)) * (H - 2 * PAD));
  const name = fieldName(s.field), last = ys[ys.length - 1];
  const svg = h("svg:svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", class: "chart", role: "img",
    "data-chart": s.field, "aria-label": `${name}: ${fmtValue(s.field, last)}` },
  h("svg:title", {}, name),
  h("svg:polyline", { points: s.points.map((p, i) => `${X(xs[i]).toFixed(1)},${Y(ys[i]).toFixed(1)}`).join(" "),
    fill: "none", stroke: "#0b5cad", "stroke-width": 3, "vector-effect": "non-scaling-stroke" }),
  s.points.length === 1 ? h("svg:line", { x1: PAD, x2: W - PAD, y1: H / 2, y2: H / 2, stroke: "#0b5cad",
    "stroke-width": 3,
    "vector-effect": "non-scaling-stroke" }) : null);
  return h("figure", { class: "chart-box" },
    h("figcaption", {}, h("strong", {}, name), `: ${fmtValue(s.field, last)}`,
      h("span", { class: "muted" }, ` (${t("min")} ${fmtValue(s.field, y0)}, ${t("max")} ${fmtValue(s.field, y1)})`)),
    svg, timeAxis(x0, x1));
}

/** An on/off field as bands: green while it is as it should be, red while it is not. */
function bandChart(s) {
  const xs = s.points.map((p) => new Date(p.at).getTime());
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const X = (x) => ((x - x0) / (x1 - x0)) * W;
  const name = fieldName(s.field), last = s.points[s.points.length - 1].value;
  const good = (v) => (fieldIsBool(s.field) === "bad-when-on" ? !v : !!v);
  const bands = s.points.map((p, i) => {
    const a = xs[i], b = i + 1 < xs.length ? xs[i + 1] : x1;
    return h("svg:rect", { x: X(a), y: 0, height: H, width: Math.max(1, X(b) - X(a)),
      class: good(p.value) ? "fill-ok" : "fill-offline" },
      h("svg:title", {}, `${fmtTime(p.at)}: ${p.value ? t("on") : t("off")}`));
  });
  return h("figure", { class: "chart-box" },
    h("figcaption", {}, h("strong", {}, name), `: ${last ? t("on") : t("off")}`),
    h("svg:svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", class: "chart band", role: "img",
      "data-chart": s.field, "aria-label": `${name}: ${last ? t("on") : t("off")}` }, h("svg:title", {}, name), bands),
    timeAxis(x0, x1));
}

/** A chart for a series, or nil for readings better read as a figure (a moment, shown elsewhere). */
export const chartFor = (s) => (fieldIsBool(s.field) ? bandChart(s) : fieldIsMoment(s.field) ? null : lineChart(s));

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
