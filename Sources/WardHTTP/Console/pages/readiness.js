// Storm readiness (docs/warnings.md): a commune's speakers self-test; which villages would hear a warning now.
import { h, api, showError } from "../lib/core.js";
import { t, word, fmtTime, fmtNumber } from "../lib/i18n.js";
import { table, select, field } from "../lib/ui.js";

/** "mains 2; battery 1 (15 %, ~1.5 h)": the reachable speakers' power, battery figures the worst. */
function power(v) {
  const parts = [];
  if (v.on_mains) parts.push(`${word("power", "mains")} ${v.on_mains}`);
  if (v.on_solar) parts.push(`${word("power", "solar")} ${v.on_solar}`);
  if (v.on_battery) {
    const f = [v.lowest_battery_percent != null ? `${v.lowest_battery_percent} %` : null,
      v.shortest_hours != null ? t("hoursLeft", { h: fmtNumber(v.shortest_hours, 1) }) : null].filter(Boolean);
    parts.push(`${word("power", "battery")} ${v.on_battery}${f.length ? ` (${f.join(", ")})` : ""}`);
  }
  return parts.join("; ") || "—";
}

function report(r) {
  const byId = Object.fromEntries(r.villages.map((v) => [v.id, v]));
  const name = (id) => byId[id] ? byId[id].name : id;
  return [
    h("p", { class: "muted" }, t("readinessAsked", { asked: r.asked, answered: r.answered, at: fmtTime(r.at) })),
    table([
      { label: t("village"), cell: (v) => v.name },
      { label: t("readinessSpeakers"), cell: (v) => String(v.speakers) },
      { label: t("readinessReachable"), cell: (v) => String(v.reachable) },
      { label: t("readinessReady"), cell: (v) => String(v.ready) },
      { label: t("readinessPower"), cell: (v) => power(v) },
      { label: t("readinessLastHeard"), cell: (v) => v.last_heard ? fmtTime(v.last_heard) : "—" },
    ], r.villages, {
      testid: "readiness-table", rowAttrs: (v) => ({ "data-village": v.id, "data-can-hear": String(v.can_hear) }),
    }),
    h("h3", {}, t("readinessWouldNot", { n: r.would_not_hear.length })),
    r.would_not_hear.length
      ? h("ol", { "data-testid": "readiness-would-not" }, r.would_not_hear.map((id) =>
        h("li", { "data-village": id }, `${name(id)}: ${word("readinessProblem", byId[id] && byId[id].problem)}`)))
      : h("p", { class: "muted" }, t("readinessAllHear")),
    r.on_battery_only.length
      ? h("p", { "data-testid": "readiness-battery-only" },
        `${t("readinessBatteryOnly")}: ${r.on_battery_only.map((id) => `${name(id)} (${power(byId[id])})`).join("; ")}`)
      : null,
  ];
}

/** The panel: pick a commune, ask (optionally with the quiet test tone), read the verdict. */
export function readinessPanel(places) {
  const communes = places.filter((p) => p.level === "commune");
  if (!communes.length) return null;
  const pick = select(communes.map((c) => [c.id, c.name]), communes[0].id, { "data-testid": "readiness-commune" });
  const tone = h("input", { type: "checkbox", "data-testid": "readiness-tone" });
  const out = h("div", { role: "status", "data-testid": "readiness-result" });
  const run = async () => {
    out.replaceChildren(h("p", { class: "muted" }, t("readinessRunning")));
    try {
      const body = { commune: pick.value, tone: tone.checked };
      const r = await api("/api/v1/warnings/readiness", { method: "POST", body });
      out.replaceChildren(...report(r).filter(Boolean));
    } catch (e) { showError(out, e); }
  };
  return h("section", { class: "panel", "data-testid": "readiness" }, h("h2", {}, t("readiness")),
    h("p", { class: "muted" }, t("readinessHint")),
    h("div", { class: "row" }, field(t("commune"), pick), field(t("readinessTone"), tone),
      h("button", { class: "plain", onclick: run, "data-testid": "readiness-run" }, t("readinessRun"))),
    out);
}
