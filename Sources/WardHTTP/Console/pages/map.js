// The map: devices at their sites' coordinates, one marker per site coloured by its worst device
// (a degraded device never hides under a green dot), labels, a legend; without coordinates, a
// board of villages. No tile server: the places themselves are the map.
import { h, api, page, nodes } from "../lib/core.js";
import { t, word } from "../lib/i18n.js";
import { stateBadge } from "../lib/ui.js";
import { STATE_RANK, worstState as worst } from "../lib/fleet.js";
import { onLive } from "../lib/live.js";

// A phone gets a narrower drawing, so the same marker is twice as large on its screen.
const size = () => (window.innerWidth < 600 ? { W: 420, H: 560 } : { W: 800, H: 520 });

function groupBy(list, key) {
  const m = new Map();
  for (const d of list) { const k = key(d); if (!m.has(k)) m.set(k, []); m.get(k).push(d); }
  return m;
}

const legend = () => h("p", { class: "legend", "aria-label": t("legend") },
  ["ok", "degraded", "offline", "unknown"].map((s) => h("span", {}, h("i", { class: `swatch state-bg-${s}` }),
    word("state", s))),
  h("span", {}, h("i", { class: "swatch ring" }), t("ringMeans")));

/** A site: a dot in its worst state with the count of devices; a tap opens its list. Its name is
 * written under it unless that would cover another site's name (the title still names it). */
function siteMarker(x, y, devices, name, labelled) {
  const state = worst(devices);
  const href = devices.length === 1 ? `#/device/${encodeURIComponent(devices[0].id)}`
    : `#/devices?q=${encodeURIComponent(devices[0].site_name || "")}`;
  const bad = devices.filter((d) => d.state !== "ok").length;
  return h("svg:a", { href, "data-map-site": devices[0].site, "data-map-state": state,
    "aria-label": `${name}: ${devices.length} · ${word("state", state)}` },
  h("svg:title", {}, `${name} — ${devices.map((d) => `${d.id}: ${word("state", d.state)}`).join(", ")}`),
  h("svg:circle", { cx: x, cy: y, r: 22, fill: "transparent" }),  // a larger place to tap than the dot
  h("svg:circle", { cx: x, cy: y, r: 13, class: `fill-${state}`, stroke: "#fff", "stroke-width": 2 }),
  h("svg:text", { x, y: y + 4, "text-anchor": "middle", class: "marker-count" }, devices.length),
  bad ? h("svg:circle", { cx: x + 11, cy: y - 11, r: 6, fill: "#fff", class: `stroke-${state}`,
    "stroke-width": 3 }) : null,
  labelled ? h("svg:text", { x, y: y + 28, "text-anchor": "middle", class: "marker-label" }, name) : null);
}

/** Which markers get a label: the worst first, none overlapping one already placed. */
function labels(points) {
  const placed = [];
  return points.map((p) => {
    const w = Math.min(220, p.name.length * 6.5), box = [p.x - w / 2, p.y + 16, p.x + w / 2, p.y + 32];
    const clash = placed.some((b) => box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3])
      || points.some((q) => q !== p && Math.abs(q.x - p.x) < w / 2 + 13 && q.y - 13 < box[3] && q.y + 13 > box[1]);
    if (!clash) placed.push(box);
    return !clash;
  });
}

function located(devices) {
  const { W, H } = size();
  const withCoords = devices.filter((d) => d.latitude !== null && d.latitude !== undefined);
  const lats = withCoords.map((d) => d.latitude), lons = withCoords.map((d) => d.longitude);
  const [la0, la1, lo0, lo1] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const X = (lo) => W * 0.15 + ((lo - lo0) / ((lo1 - lo0) || 1)) * W * 0.7;
  const Y = (la) => H - 60 - ((la - la0) / ((la1 - la0) || 1)) * (H - 110);
  const sites = [...groupBy(withCoords, (d) => d.site).values()]
    .sort((a, b) => STATE_RANK[worst(a)] - STATE_RANK[worst(b)]);  // the worst drawn last: on top
  const points = sites.map((ds) => ({ x: X(ds[0].longitude), y: Y(ds[0].latitude), ds, name: ds[0].site_name ||
    ds[0].site }));
  const named = labels([...points].reverse()).reverse();  // the worst chooses its label place first
  return h("svg:svg", { viewBox: `0 0 ${W} ${H}`, class: "map", "data-testid": "map", role: "group",
    "aria-label": t("map") },
    points.map((p, i) => siteMarker(p.x, p.y, p.ds, p.name, named[i])));
}

/** The sites as a list under the map, worst first: what a thumb taps when markers crowd. */
function siteList(devices) {
  const sites = [...groupBy(devices, (d) => d.site).values()]
    .sort((a, b) => STATE_RANK[worst(b)] - STATE_RANK[worst(a)] || (a[0].site_name ||
      "").localeCompare(b[0].site_name || ""));
  return h("ul", { class: "lines", "data-testid": "map-sites" }, sites.map((ds) => h("li", {},
    h("a", { class: `line line-${worst(ds)}`, href: ds.length === 1 ? `#/device/${encodeURIComponent(ds[0].id)}`
      : `#/devices?q=${encodeURIComponent(ds[0].site_name || "")}` },
    h("span", { class: "line-head" }, h("strong", {}, ds[0].site_name || ds[0].site), " ", stateBadge(worst(ds))),
    h("span", { class: "line-where" }, `${ds[0].village_name || ""} · ${t("devicesOf", { n: ds.length })}`)))));
}

/** Devices without coordinates: one tile per village, its devices as coloured chips, worst first. */
function villageBoard(devices) {
  const byVillage = groupBy(devices, (d) => d.village_name || d.site_name || "—");
  return h("div", { class: "village-board" }, [...byVillage.entries()].map(([name, ds]) =>
    h("section", { class: `village-tile tile-${worst(ds)}` }, h("h3", {}, name, " ", stateBadge(worst(ds))),
      h("ul", {}, ds.sort((a, b) => STATE_RANK[b.state] - STATE_RANK[a.state]).map((d) =>
        h("li", {}, h("a", { href: `#/device/${encodeURIComponent(d.id)}`, class: `chip chip-${d.state}`,
          "data-map-device": d.id }, d.id, " · ", word("state", d.state))))))));
}

export async function mapPage() {
  const devices = await api("/api/v1/devices");
  const holder = h("div");
  const draw = () => {
    const some = devices.filter((d) => d.latitude !== null && d.latitude !== undefined);
    const rest = devices.filter((d) => d.latitude === null || d.latitude === undefined);
    holder.replaceChildren(...nodes([legend(), some.length ? [located(devices), siteList(some)] : null,
      rest.length ? [h("h2", {}, t("noMap")), villageBoard(rest)] : null]));
  };
  draw();
  page(t("map"), holder);
  onLive("device", (e) => {
    const d = devices.find((x) => x.id === e.id);
    if (d) { d.state = e.state; draw(); }
  });
}
