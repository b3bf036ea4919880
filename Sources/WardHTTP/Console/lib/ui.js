// Building blocks the pages share: state badges, tables that become cards on a phone, form fields.
import { h } from "./core.js";
import { t, word } from "./i18n.js";


export function stateBadge(state, id) {
  return h("span", { class: `state state-${state}`, "data-state": state, "data-device-state": id || null },
    word("state", state));
}

/**
 * A table whose rows turn into cards below 600 px: each cell carries its column's name (data-label),
 * which the phone layout shows in front of the value.
 * columns: [{ label, cell: (row) => node|text, class? }]; rowAttrs: (row) => attributes.
 */
export function table(columns, rows, { testid, rowAttrs, empty } = {}) {
  if (!rows.length) return h("p", { class: "muted", "data-testid": testid ? `${testid}-empty` : null },
    empty ?? t("none"));
  return h("table", { class: "cards-on-phone", "data-testid": testid || null },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label)))),
    h("tbody", {}, rows.map((r) => h("tr", rowAttrs ? rowAttrs(r) : {},
      columns.map((c) => h("td", { "data-label": c.label, class: c.class || null }, c.cell(r)))))));
}

/** A labelled input: the label names the control for screen readers and taps. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), control,
    hint ? h("p", { class: "muted hint" }, hint) : null);
}

export function select(options, value, attrs = {}) {
  return h("select", attrs, options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
}

/** Tabs as links (each view has its own address), the current one marked. */
export function tabs(list, current) {
  return h("nav", { class: "tabs", "aria-label": t("broadcasts") }, list.map(([href, label, badge]) =>
    h("a", { href, class: href === current ? "active" : null, "aria-current": href === current ? "page" : null },
      label, badge ? h("span", { class: "badge" }, badge) : null)));
}

export const muted = (text) => h("span", { class: "muted" }, text);

/** Sites grouped by village, so a phone's native picker shows "Thôn … › Điểm …". */
export function sitePicker(places, attrs = {}) {
  const name = Object.fromEntries(places.map((p) => [p.id, p.name]));
  const groups = new Map();
  for (const s of places.filter((p) => p.level === "site")) {
    const g = name[s.parent_id] || "—";
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(s);
  }
  return h("select", attrs, h("option", { value: "" }, `— ${t("chooseSite")} —`),
    [...groups.entries()].map(([g, ss]) => h("optgroup", { label: g }, ss.map((s) =>
      h("option", { value: s.id }, `${s.name}${s.site_kind ? ` (${word("site", s.site_kind)})` : ""}`)))));
}
