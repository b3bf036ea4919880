// Users: add, edit (name, role after confirmation, communes), disable, passwords, API tokens (listed, made, revoked).
// The commune picker shows names and stores ids.
import { h, api, page, okBox, ask, redraw, attempt } from "../lib/core.js";
import { t, word } from "../lib/i18n.js";
import { table, field, select } from "../lib/ui.js";
import { tokenPanel } from "../lib/tokens.js";

const ROLES = ["viewer", "operator", "technician", "approver", "admin"];

/** Checkboxes with commune names; none ticked means every commune. */
function communePicker(communes, chosen = []) {
  return h("fieldset", { class: "communes" }, h("legend", {}, t("communes")),
    h("p", { class: "muted hint" }, `${t("allCommunes")}: —`),
    communes.map((c) => h("label", {}, h("input", { type: "checkbox", name: "commune", value: c.id,
      checked: chosen.includes(c.id) }), c.name)));
}
const picked = (box) => [...box.querySelectorAll("input[name=commune]:checked")].map((x) => x.value);

function addForm(communes, msg) {
  const name = h("input", { required: true, autocapitalize: "none", autocomplete: "off" });
  const display = h("input", {});
  const role = select(ROLES.map((r) => [r, word("role", r)]), "viewer");
  const pw = h("input", { type: "password", minlength: 10, required: true, autocomplete: "new-password" });
  const box = communePicker(communes);
  return h("form", { class: "panel", "data-testid": "add-user", onsubmit: (ev) => {
    ev.preventDefault();
    attempt(msg, async () => {
      const cs = picked(box);
      await api("/api/v1/users", { method: "POST", body: { name: name.value, role: role.value,
        display_name: display.value || undefined, password: pw.value, communes: cs.length ? cs : undefined } });
      redraw();
    });
  } }, h("h2", {}, t("addUser")), field(t("user"), name), field(t("displayName"), display), field(t("role"), role), box,
  field(t("password"), pw), h("button", { class: "primary", type: "submit" }, t("save")));
}

function editForm(u, communes, holder, msg) {
  const display = h("input", { value: u.display_name || "" });
  const role = select(ROLES.map((r) => [r, word("role", r)]), u.role);
  const box = communePicker(communes, u.communes || []);
  const f = h("form", { class: "panel", "data-edit-user": u.name, onsubmit: (ev) => {
    ev.preventDefault();
    if (role.value !== u.role && !ask(t("confirmRole", { user: u.name, from: word("role", u.role), to: word("role",
      role.value) }))) {
      return;
    }
    attempt(msg, async () => {
      const body = { display_name: display.value, communes: picked(box) };
      if (role.value !== u.role) body.role = role.value;
      await api(`/api/v1/users/${encodeURIComponent(u.name)}`, { method: "PATCH", body });
      msg.replaceChildren(okBox(`${u.name}: ${t("saved")}`));
      redraw();
    });
  } }, h("h3", {}, `${t("edit")}: ${u.name}`), field(t("displayName"), display), field(t("role"), role), box,
  h("button", { class: "primary", type: "submit" }, t("save")),
  h("button", { class: "plain", type: "button", onclick: () => holder.replaceChildren() }, t("cancel")));
  holder.replaceChildren(f);
  f.scrollIntoView({ block: "start" });
}

export async function usersPage() {
  const [list, places] = await Promise.all([api("/api/v1/users"), api("/api/v1/places")]);
  const communes = places.filter((p) => p.level === "commune");
  const name = Object.fromEntries(places.map((p) => [p.id, p.name]));
  const msg = h("div", { role: "status" }), holder = h("div");
  const patch = (u, body) => attempt(msg, async () => {
    await api(`/api/v1/users/${encodeURIComponent(u.name)}`, { method: "PATCH", body });
    redraw();
  });
  const actions = (u) => [
    h("button", { class: "plain", "data-edit-user-button": u.name, onclick: () => editForm(u, communes, holder,
      msg) }, t("edit")),
    u.disabled ? h("button", { class: "plain", onclick: () => patch(u, { disabled: false }) }, t("enable"))
      : h("button", { class: "danger", onclick: () => ask(t("confirmDisable", { user: u.name })) && patch(u,
        { disabled: true }) },
        t("disable")),
    h("button", { class: "plain",
      onclick: () => { const pw = window.prompt(`${t("newPassword")} (${u.name})`); if (pw) patch(u,
        { password: pw }); } },
      t("changePassword")),
    h("button", { class: "plain", "data-user-tokens": u.name, onclick: () => {
      holder.replaceChildren(h("div", {},
        tokenPanel(`/api/v1/users/${encodeURIComponent(u.name)}/tokens`, u.name, `${t("tokens")}: ${u.name}`),
        h("button", { class: "plain", type: "button", onclick: () => holder.replaceChildren() }, t("close"))));
      holder.scrollIntoView({ block: "start" });
    } }, t("tokens")),
  ];
  page(t("users"), msg, holder, table([
    { label: t("user"), cell: (u) => h("strong", {}, u.name) }, { label: t("displayName"),
      cell: (u) => u.display_name || "—" },
    { label: t("role"), cell: (u) => word("role", u.role) },
    { label: t("communes"), cell: (u) => (u.communes && u.communes.length ? u.communes.map((c) => name[c] ||
      c).join(", ") : t("allCommunes")) },
    { label: t("status"), cell: (u) => (u.disabled ? h("span", { class: "miss" }, t("disabled")) : t("active")) },
    { label: "", cell: actions },
  ], list, { testid: "user-table", rowAttrs: (u) => ({ "data-user": u.name }) }), addForm(communes, msg));
}
