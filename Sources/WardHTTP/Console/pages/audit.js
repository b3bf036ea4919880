// The audit log: who did what, when, from where; filtered by user, action and dates, paged,
// actions in words and changes as before → after.
import { h, api, page, hashQuery } from "../lib/core.js";
import { t, word, fmtTime } from "../lib/i18n.js";
import { table, field, select } from "../lib/ui.js";
import vi from "../i18n/vi.js";

const PAGE = 50;

// Before/after come as JSON objects: each field named in words, roles, communes and booleans too.
const FIELD = { role: "role", communes: "communes", display_name: "displayName", disabled: "disabled", title: "title",
  severity: "severity", duration: "duration", enabled: "enabled", from: "quietFrom", to: "quietTo", site: "site" };

const CONFIG = ["heartbeat_s", "max_volume", "retention_days", "media_base_url", "ntp"];

function show(v, names) {
  if (v === null || v === undefined || v === "") return "—";
  let o = v;
  try { o = typeof v === "string" ? JSON.parse(v) : v; } catch { return String(v); }
  if (o === null || typeof o !== "object") return String(o);
  const value = (k, x) => {
    if (x === null || x === undefined || x === "") return "—";
    if (k === "role") return word("role", x);
    if (k === "severity") return word("severity", x);
    if (k === "communes") return x.length ? x.map((c) => names[c] || c).join(", ") : t("allCommunes");
    if (typeof x === "boolean") return x ? "✓" : "✗";
    if (Array.isArray(x)) return x.join(", ");
    return typeof x === "object" ? JSON.stringify(x) : String(x);
  };
  // A device's remote configuration (device.config) names its settings as the protocol does.
  const label = (k) => (FIELD[k] ? t(FIELD[k]) : CONFIG.includes(k) ? word("configField", k) : word("kpi", k));
  return Object.entries(o).map(([k, x]) => `${label(k)}: ${value(k, x)}`).join("; ");
}

/** What changed: before → after when the entry has them, else the detail as written. */
function change(a, names) {
  if (a.before === undefined && a.after === undefined) return a.detail || "—";
  return h("span", {}, h("del", {}, show(a.before, names)), " → ", h("ins", {}, show(a.after, names)));
}

export async function auditPage() {
  const q = hashQuery();
  const offset = Number(q.get("offset") || 0);
  const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  for (const k of ["user", "action", "from", "to"]) if (q.get(k)) params.set(k, q.get(k));
  const [r, places] = await Promise.all([api(`/api/v1/audit?${params}`), api("/api/v1/places")]);
  const names = Object.fromEntries(places.map((p) => [p.id, p.name]));
  const list = Array.isArray(r) ? r : r.entries || [];
  const user = h("input", { value: q.get("user") || "", autocapitalize: "none" });
  const action = select([["", t("all")], ...Object.keys(vi.audit).sort().map((k) => [k, word("audit", k)])],
    q.get("action") || "");
  const from = h("input", { type: "date", value: q.get("from") || "" }), to = h("input", { type: "date",
    value: q.get("to") || "" });
  const go = (off) => {
    const p = new URLSearchParams();
    if (user.value) p.set("user", user.value.trim());
    if (action.value) p.set("action", action.value);
    if (from.value) p.set("from", from.value);
    if (to.value) p.set("to", to.value);
    if (off) p.set("offset", String(off));
    location.hash = `#/audit${p.toString() ? "?" + p : ""}`;
  };
  const more = Array.isArray(r) ? list.length === PAGE : !!r.next;
  page(t("audit"),
    h("form", { class: "panel filters", onsubmit: (ev) => { ev.preventDefault(); go(0); } },
      field(t("user"), user), field(t("action"), action), field(t("fromDate"), from), field(t("toDate"), to),
      h("button", { class: "primary", type: "submit" }, t("filter"))),
    table([
      { label: t("at"), cell: (a) => fmtTime(a.at) }, { label: t("user"), cell: (a) => a.user },
      { label: t("action"), cell: (a) => word("audit", a.action) }, { label: t("subject"),
        cell: (a) => h("span", { "data-raw": "" }, a.target || "—") },  // what it names: ids, names, models
      { label: t("detail"), cell: (a) => change(a, names), class: "muted" }, { label: t("from"),
        cell: (a) => a.address || "—" },
    ], list, { testid: "audit-table" }),
    h("nav", { class: "pager", "aria-label": t("pageN", { n: offset / PAGE + 1 }) },
      offset > 0 ? h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); go(Math.max(0, offset - PAGE)); } },
        `← ${t("newer")}`) : null,
      h("span", {}, t("pageN", { n: Math.floor(offset / PAGE) + 1 })),
      more ? h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); go(offset + PAGE); } },
        `${t("older")} →`) : null));
}
