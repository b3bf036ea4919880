// Alarms: open, cleared or all; what, where, since when, and acknowledging them.
import { h, api, page, can, hashQuery, errorBox, redraw, showError } from "../lib/core.js";
import { t, word, fmtTime, ago, oneLanguage } from "../lib/i18n.js";
import { table } from "../lib/ui.js";
import { onLive } from "../lib/live.js";

/** Where an alarm is, in names: the device with its village, or the village and its members. */
function subject(a, byId, placeName) {
  if (a.device_id) {
    const d = byId[a.device_id];
    return [h("a", { href: `#/device/${encodeURIComponent(a.device_id)}` }, a.device_id),
      d ? ` · ${[d.village_name, d.site_name].filter(Boolean).join(" · ")}` : ""];
  }
  const members = a.members && a.members.length ? ` (${a.members.join(", ")})` : "";
  return `${placeName[a.village_id] || a.village_id || "—"}${members}`;
}

export function alarmTable(alarms, devices = [], places = [], onAck = null) {
  const byId = Object.fromEntries(devices.map((d) => [d.id, d]));
  const placeName = Object.fromEntries(places.map((p) => [p.id, p.name]));
  for (const d of devices) if (d.village) placeName[d.village] ||= d.village_name;
  return table([
    { label: t("severity"), cell: (a) => h("span", { class: `sev sev-${a.severity}` }, word("severity", a.severity)) },
    { label: t("kind"), cell: (a) => word("alarm", a.kind) },
    { label: t("subject"), cell: (a) => subject(a, byId, placeName) },
    { label: t("since"), cell: (a) => h("span", { title: fmtTime(a.since) }, `${fmtTime(a.since)} (${ago(a.since)})`) },
    { label: t("detail"), cell: (a) => oneLanguage(a.detail) || "—", class: "muted" },
    { label: t("status"), cell: (a) => (a.cleared_at ? t("cleared", { at: fmtTime(a.cleared_at) })
      : a.acked_by ? t("ackedBy", { who: a.acked_by })
        : onAck ? h("button", { class: "plain", onclick: () => onAck(a) }, t("ack")) : t("alarmsOpen")) },
  ], alarms, { testid: "alarm-table", rowAttrs: (a) => ({ "data-alarm": a.id }), empty: t("none") });
}

export async function alarmsPage() {
  const status = hashQuery().get("status") || "open";
  const [list, devices, places] = await Promise.all([api(`/api/v1/alarms?status=${status}`), api("/api/v1/devices"),
    api("/api/v1/places")]);
  const msg = h("div");
  const ack = can("acknowledge_alarms") ? async (a) => {
    const note = window.prompt(t("note")) || undefined;
    try { await api(`/api/v1/alarms/${a.id}/ack`, { method: "POST", body: { note } }); redraw(); }
    catch (e) { showError(msg, e); }
  } : null;
  const filters = [["open", t("alarmsOpen")], ["cleared", t("alarmsCleared")], ["all", t("alarmsAll")]];
  page(t("alarms"), h("nav", { class: "tabs", "aria-label": t("alarms") }, filters.map(([s, label]) =>
    h("a", { href: `#/alarms?status=${s}`, class: s === status ? "active" : null,
      "aria-current": s === status ? "page" : null },
      label))), msg, alarmTable(list, devices, places, ack));
  onLive("alarm", redraw);  // a new or cleared alarm: the list is read again
}
