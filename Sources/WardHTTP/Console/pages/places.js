// Places and registration: the commune's tree (villages, sites) and registering devices.
import { h, api, page, can, errorBox, okBox, S, redrawSoon, showError } from "../lib/core.js";
import { t, word } from "../lib/i18n.js";
import { field, select, sitePicker } from "../lib/ui.js";
import { CLASSES } from "../lib/fleet.js";

function tree(places) {
  const byParent = {};
  places.forEach((p) => { (byParent[p.parent_id || ""] ||= []).push(p); });
  const roots = places.filter((p) => !p.parent_id || !places.some((q) => q.id === p.parent_id));
  const branch = (p) => h("li", {}, h("span", { class: `place place-${p.level}` },
    h("b", {}, p.name), ` · ${p.site_kind ? word("site", p.site_kind) : word("placeLevel", p.level)}`),
  byParent[p.id] ? h("ul", {}, byParent[p.id].map(branch)) : null);
  return h("ul", { class: "tree", "data-testid": "place-tree" }, roots.map(branch));
}

function registerForm(places, msg) {
  const id = h("input", { id: "reg-id", required: true, pattern: "[A-Za-z0-9._\\-]+", autocapitalize: "characters" });
  const cls = select(CLASSES.map((c) => [c, word("cls", c)]), "speaker", { id: "reg-cls" });
  const site = sitePicker(places, { id: "reg-site", required: true });
  const model = h("input", { id: "reg-model" });
  const form = h("form", { class: "panel", id: "register-form", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      await api("/api/v1/devices", { method: "POST",
        body: { id: id.value, device_class: cls.value, site: site.value, model: model.value || undefined } });
      location.hash = `#/device/${encodeURIComponent(id.value)}`;
    } catch (e) { showError(msg, e); }
  } }, h("h2", {}, t("register")), field(t("deviceId"), id), field(t("cls"), cls), field(t("site"), site),
  field(t("model"), model), h("button", { class: "primary", type: "submit" }, t("register")));
  return form;
}

function importForm(msg) {
  const file = h("textarea", { rows: 8, required: true, spellcheck: "false" });
  const withDevices = h("input", { type: "checkbox" });
  const form = h("form", { class: "panel", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const r = await fetch(`/api/v1/places/import?format=yaml${withDevices.checked ? "&with_devices=true" : ""}`, {
        method: "POST", credentials: "same-origin", body: file.value,
        headers: { "Content-Type": "application/yaml", "X-CSRF-Token": S.csrf,
          "Accept-Language": document.documentElement.lang } });
      const d = await r.json();
      if (!r.ok) throw new Error(d.error);
      msg.replaceChildren(okBox(t("imported", { a: d.places_new, b: d.places_updated, c: d.devices_new,
        d: d.devices_updated })));
      redrawSoon(1500);
    } catch (e) { showError(msg, e); }
  } }, h("h2", {}, t("importPlaces")), field(t("importPlaces"), file),
  h("label", { class: "check" }, withDevices, t("withDevices")), h("button", { class: "primary", type: "submit" },
    t("save")));
  return form;
}

export async function placesPage() {
  const places = await api("/api/v1/places");
  const msg = h("div", { role: "status" });
  page(t("places"), msg, can("manage_devices") ? [registerForm(places, msg), importForm(msg)] : null, tree(places));
}
