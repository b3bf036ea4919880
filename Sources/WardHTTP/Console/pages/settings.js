// Settings: alarm rules and KPI targets, in words; targets are entered as percentages.
import { h, api, page, toast, showError } from "../lib/core.js";
import { t, word, fmtPct, fmtNumber } from "../lib/i18n.js";
import { table, select, field } from "../lib/ui.js";

/** A rule's threshold as people read it: a share as a percentage, a battery level in %. */
function threshold(r) {
  if (r.threshold === null || r.threshold === undefined) return "—";
  if (r.threshold > 0 && r.threshold < 1) return fmtPct(r.threshold);
  return r.kind === "battery_low" ? `${fmtNumber(r.threshold, 0)} %` : fmtNumber(r.threshold, 1);
}

function rulesTable(rules, msg) {
  const save = async (body) => {
    try { await api("/api/v1/alarms/rules", { method: "PUT", body }); toast(t("saved")); } catch (e) { showError(msg,
      e); }
  };
  const rows = rules.map((r) => ({ ...r,
    sev: select(["major", "minor", "warning"].map((x) => [x, word("severity", x)]), r.severity,
      { "aria-label": `${t("severity")}: ${word("alarm", r.kind)}` }),
    dur: h("input", { type: "number", min: 0, value: r.duration, class: "short", "aria-label": t("duration") }),
    on: h("input", { type: "checkbox", checked: r.enabled, "aria-label": t("enabled") }) }));
  const saveRule = (r) => save({ kind: r.kind, device_class: r.device_class, severity: r.sev.value,
    duration: Number(r.dur.value), enabled: r.on.checked });
  return table([
    { label: t("alarmKind"), cell: (r) => word("alarm", r.kind) },
    { label: t("deviceClass"), cell: (r) => word("cls", r.device_class) },
    { label: t("severity"), cell: (r) => r.sev }, { label: t("threshold"), cell: threshold },
    { label: t("duration"), cell: (r) => r.dur }, { label: t("enabled"), cell: (r) => r.on },
    { label: "", cell: (r) => h("button", { class: "plain", onclick: () => saveRule(r) }, t("save")) },
  ], rows, { testid: "rule-table" });
}

function targetsForm(targets, msg) {
  // Stored as fractions (0.95), entered and shown as percentages (95).
  const inputs = Object.entries(targets).sort().map(([k, v]) => [k, h("input", { name: k, type: "number", step: "0.1",
    min: 0, max: 100, inputmode: "decimal", value: +(v * 100).toFixed(2) })]);
  return h("form", { class: "panel", "data-testid": "targets", onsubmit: async (ev) => {
    ev.preventDefault();
    const body = {};
    inputs.forEach(([k, i]) => { if (i.value !== "") body[k] = Number(i.value) / 100; });
    try { await api("/api/v1/kpi/targets", { method: "PUT", body }); toast(t("saved")); } catch (e) { showError(msg,
      e); }
  } }, inputs.map(([k, i]) => field(`${word("kpi", k)} (%)`, i)), h("button", { class: "primary", type: "submit" },
    t("save")));
}

export async function settingsPage() {
  const [rules, targets] = await Promise.all([api("/api/v1/alarms/rules"), api("/api/v1/kpi/targets")]);
  const msg = h("div", { role: "status" });
  page(t("settings"), msg, h("h2", {}, t("rules")), rulesTable(rules, msg), h("h2", {}, t("targets")),
    targetsForm(targets, msg));
}
