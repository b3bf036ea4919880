// Settings: alarm rules and KPI targets, in words.
import { h, api, page, toast, errorBox } from "../lib/core.js";
import { t, word, fmtPct } from "../lib/i18n.js";
import { table, select, field } from "../lib/ui.js";

export async function settingsPage() {
  const [rules, targets] = await Promise.all([api("/api/v1/alarms/rules"), api("/api/v1/kpi/targets")]);
  const msg = h("div", { role: "status" });
  const save = async (body) => {
    try { await api("/api/v1/alarms/rules", { method: "PUT", body }); toast(t("saved")); }
    catch (e) { msg.replaceChildren(errorBox(e)); }
  };
  const ruleTable = table([
    { label: t("kind"), cell: (r) => word("alarm", r.kind) }, { label: t("cls"), cell: (r) => word("cls",
      r.device_class) },
    { label: t("severity"), cell: (r) => r.sev }, { label: t("threshold"), cell: (r) => r.threshold ?? "—" },
    { label: t("duration"), cell: (r) => r.dur }, { label: t("enabled"), cell: (r) => r.on },
    { label: "", cell: (r) => h("button", { class: "plain", onclick: () => save({ kind: r.kind,
      device_class: r.device_class,
      severity: r.sev.value, duration: Number(r.dur.value), enabled: r.on.checked }) }, t("save")) },
  ], rules.map((r) => ({ ...r,
    sev: select(["major", "minor", "warning"].map((x) => [x, word("severity", x)]), r.severity,
      { "aria-label": `${t("severity")}: ${word("alarm", r.kind)}` }),
    dur: h("input", { type: "number", min: 0, value: r.duration, class: "short", "aria-label": t("duration") }),
    on: h("input", { type: "checkbox", checked: r.enabled, "aria-label": t("enabled") }) })), { testid: "rule-table" });
  const inputs = Object.entries(targets).sort().map(([k, v]) => [k, h("input", { name: k, type: "number",
    step: "0.01", min: 0,
    max: 1, value: v })]);
  const tgt = h("form", { class: "panel", "data-testid": "targets", onsubmit: async (ev) => {
    ev.preventDefault();
    const body = {};
    inputs.forEach(([k, i]) => { if (i.value !== "") body[k] = Number(i.value); });
    try { await api("/api/v1/kpi/targets", { method: "PUT", body }); toast(t("saved")); }
    catch (e) { msg.replaceChildren(errorBox(e)); }
  } }, inputs.map(([k, i]) => field(`${word("kpi", k)} (${fmtPct(Number(i.value))})`, i)),
  h("button", { class: "primary", type: "submit" }, t("save")));
  page(t("settings"), msg, h("h2", {}, t("rules")), ruleTable, h("h2", {}, t("targets")), tgt);
}
