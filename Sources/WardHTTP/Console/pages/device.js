// One device: its state and why, availability, identity, commands, readings, history.
import { h, api, page, can, errorBox, okBox, ask, showError } from "../lib/core.js";
import { t, word, fmtTime, fmtPct, ago, fmtNumber, fieldName } from "../lib/i18n.js";
import { stateBadge, table, field } from "../lib/ui.js";
import { chartFor, uptimeStrip } from "../lib/charts.js";
import { faultWords } from "../lib/fleet.js";
import { firmwareHistoryPanel, configPanel } from "./firmware.js";

const enc = encodeURIComponent;

function identityPanel(d) {
  const r = d.reported;
  const cell = (rep, mismatch) => h("td", { "data-label": t("reported"), "data-raw": rep ? "" : null },
    rep ?? t("notReported"),
    mismatch ? h("strong", { class: "miss", "data-testid": "identity-mismatch" }, ` ⚠ ${t("differs")}`) : null);
  const row = (label, registered, reported, mismatch) => h("tr", {}, h("th", { scope: "row" }, label),
    h("td", { "data-label": t("registered"), "data-raw": "" }, registered || "—"), cell(reported, mismatch));
  return h("section", { class: "panel" }, h("h2", {}, t("identity")),
    h("table", { "data-testid": "device-identity", class: "kv" },
      h("thead", {}, h("tr", {}, h("td", {}), h("th", { scope: "col" }, t("registered")), h("th", { scope: "col" },
        t("reported")))),
      h("tbody", {}, row(t("model"), d.model, r ? r.model || "—" : null, r && r.model_mismatch),
        row(t("firmware"), d.firmware, r ? r.firmware || "—" : null, r && r.firmware_mismatch))));
}

function incidentsPanel(d) {
  const parts = [];
  if (d.incidents && d.incidents.length) {
    parts.push(h("section", { class: "panel", "data-testid": "device-incidents" }, h("h2", {}, t("incidents")),
      table([{ label: t("received"), cell: (i) => fmtTime(i.received_at) }, { label: t("kind"),
        cell: (i) => word("event", i.type) },
        { label: t("detail"), cell: (i) => h("span", { "data-raw": "" }, i.detail || "—"), class: "muted" }],
          d.incidents)));
  }
  if (d.rejections && d.rejections.length) {
    parts.push(h("section", { class: "panel", "data-testid": "device-rejections" }, h("h2", {}, t("rejections")),
      table([{ label: t("at"), cell: (r) => fmtTime(r.at) }, { label: t("reason"), cell: (r) => word("reject",
        r.reason) },
        { label: t("detail"), cell: (r) => h("span", { "data-raw": "" }, r.detail), class: "muted" }], d.rejections)));
  }
  return parts;
}

function commandsPanel(id, d) {
  const out = h("div", { role: "status" });
  const accepts = (c) => Array.isArray(d.commands) && d.commands.includes(c);
  const cmd = async (body) => {
    out.replaceChildren(h("p", { class: "muted" }, t("loading")));
    try {
      const r = await api(`/api/v1/devices/${enc(id)}/commands`, { method: "POST", body });
      const line = t("commandDone", { command: word("command", r.command), result: word("result", r.result) });
      const detail = r.detail ? ` — ${r.detail}` : "";
      out.replaceChildren(r.result === "ok" ? okBox(line) : errorBox(new Error(`${line}${detail}`)));
    } catch (e) { showError(out, e); }
  };
  const vol = h("input", { type: "number", min: 0, max: 100, value: 70, inputmode: "numeric" });
  const known = d.commands !== null && d.commands !== undefined;
  return h("section", { class: "panel", "data-testid": "device-commands" }, h("h2", {}, t("commands")),
    !known ? h("p", { class: "muted" }, t("capsUnknown"))
      : !["set_volume", "test_tone", "reboot"].some(accepts) ? h("p", { class: "muted" }, t("noCommands")) : null,
    accepts("set_volume") ? h("div", { class: "row" }, field(t("volume"), vol),
      h("button", { class: "plain", onclick: () => cmd({ command: "set_volume", volume: Number(vol.value) }) },
        t("setVolume")))
      : null,
    h("div", { class: "row" },
      accepts("test_tone") ? h("button", { class: "plain", onclick: () => cmd({ command: "test_tone", seconds: 5 }) },
        t("testTone"))
        : null,
      accepts("reboot") ? h("button", { class: "danger", onclick: () => ask(t("confirmReboot", { id })) &&
        cmd({ command: "reboot" }) },
        t("reboot")) : null),
    out);
}

/** Days of footage held and days until the disk is full, from the latest camera reading. */
function storagePanel(d) {
  let r;
  try {
    const m = d.last_telemetry ? JSON.parse(d.last_telemetry) : null;
    r = m && m.camera ? { ...m.camera, ts: m.ts } : null;  // readings sit under the class's key
  } catch { r = null; }
  if (!r || !r.storage_total_bytes) return null;
  const lines = [];
  if (r.oldest_recording_ts && r.ts) lines.push(t("daysRetained",
    { d: fmtNumber((r.ts - r.oldest_recording_ts) / 86400000, 1) }));
  const free = r.storage_total_bytes - r.storage_used_bytes;
  if (!r.write_rate_bps) lines.push(t("idle"));
  else if (free <= 0) lines.push(t("diskLoops"));
  else lines.push(t("daysUntilFull", { d: fmtNumber(free / r.write_rate_bps / 86400, 1) }));
  return h("section", { class: "panel", "data-testid": "camera-storage" }, h("h2", {}, t("storage")),
    h("ul", {}, lines.map((l) => h("li", {}, l))),
    h("p", { class: "muted" },
      `${fieldName("storage_used_bytes")}: ${fmtPct(r.storage_used_bytes / r.storage_total_bytes)}`));
}

function dangerZone(id, out) {
  return h("section", { class: "panel" },
    h("button", { class: "plain", "data-testid": "claim-code", onclick: async () => {
      try {
        const r = await api(`/api/v1/devices/${enc(id)}/claim-code`, { method: "POST", body: {} });
        out.replaceChildren(okBox([`${t("claimCode")}: `, h("code", { "data-testid": "claim-code-value" }, r.code),
          ` — ${t("claimCodeNote", { at: fmtTime(r.expires) })}`]));
      } catch (e) { showError(out, e); }
    } }, t("claimCode")),
    h("button", { class: "danger", "data-testid": "remove-device", onclick: async () => {
      if (!ask(t("confirmRemove", { id }))) return;
      try { await api(`/api/v1/devices/${enc(id)}`, { method: "DELETE" }); location.hash = "#/devices"; }
      catch (e) { showError(out, e); }
    } }, t("remove")), out);
}

export async function devicePage(id) {
  // The firmware history and configuration are panels of their own: one failing does not hide the device.
  const [d, fw, config] = await Promise.all([api(`/api/v1/devices/${enc(id)}`),
    api(`/api/v1/devices/${enc(id)}/firmware`).catch(() => null),
    api(`/api/v1/devices/${enc(id)}/config`).catch(() => null)]);
  const dev = d.device;
  const charts = h("div", { class: "charts", "data-testid": "charts" }, h("p", { class: "muted" }, t("loading")));
  const status = h("p", { class: "status-line" }, stateBadge(dev.state, dev.id), " ",
    h("span", { "data-device-since": dev.id }, fmtTime(dev.since)), ` (${ago(dev.since)})`,
    h("span", { class: "faults", "data-device-faults": dev.id }, faultWords(dev.reasons)));
  // A day from raw samples; a month and a year from the hourly and daily roll-ups.
  const loadCharts = async (hours) => {
    for (const b of ranges.children) b.setAttribute("aria-pressed", String(Number(b.dataset.hours) === hours));
    try {
      const series = await api(`/api/v1/devices/${enc(id)}/telemetry?hours=${hours}`);
      const drawn = series.map(chartFor).filter(Boolean);
      charts.replaceChildren(...(drawn.length ? drawn : [h("p", { class: "muted" }, t("noData"))]));
    } catch (e) { charts.replaceChildren(errorBox(e)); }
  };
  const ranges = h("div", { class: "chart-ranges", role: "group", "data-testid": "chart-ranges" },
    ...[[24, "last24h"], [720, "last30d"], [8784, "last1y"]].map(([hours, key]) =>
      h("button", { type: "button", class: "plain", "data-hours": String(hours), onclick: () => loadCharts(hours) },
        t(key))));
  const manage = can("manage_devices");
  page(`${dev.id} — ${word("cls", dev.device_class)}`,
    h("p", { class: "muted" }, [dev.village_name, dev.site_name].filter(Boolean).join(" · ")),
    status,
    h("p", {}, `${t("uptime")}: ${t("last24h")} ${fmtPct(d.uptime24h ?? d.uptime_24h)} · ${t("last30d")} `
      + `${fmtPct(d.uptime30d ?? d.uptime_30d)}`),
    uptimeStrip(d.history),
    storagePanel(d),
    manage ? commandsPanel(id, d) : null,
    identityPanel(d), config ? configPanel(config) : null, fw ? firmwareHistoryPanel(fw) : null, incidentsPanel(d),
    h("h2", {}, t("telemetry")), ranges, charts,
    h("h2", {}, t("history")),
    table([{ label: t("state"), cell: (s) => stateBadge(s.state) }, { label: t("since"),
      cell: (s) => fmtTime(s.start) },
      { label: "→", cell: (s) => (s.end ? fmtTime(s.end) : "…") },
      { label: t("reason"), cell: (s) => faultWords(s.faults) || "—",
        class: "muted" }],
    d.history, { testid: "state-history" }),
    manage ? dangerZone(id, h("div", { role: "status" })) : null);
  await loadCharts(24);
}
