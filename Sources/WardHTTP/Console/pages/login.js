// Signing in.
import { S, h, api, page, errorBox } from "../lib/core.js";
import { t } from "../lib/i18n.js";
import { field } from "../lib/ui.js";

export function loginPage(start) {
  const err = h("div");
  const user = h("input", { id: "user", name: "user", autocomplete: "username", required: true,
    autocapitalize: "none" });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password",
    required: true });
  const form = h("form", { class: "panel narrow", id: "login-form", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const r = await api("/api/v1/login", { method: "POST", body: { user: user.value, password: password.value } });
      S.csrf = r.csrf;
      sessionStorage.setItem("wf-csrf", r.csrf);
      await start();
      location.hash = "#/";
    } catch (e) { err.replaceChildren(errorBox(e)); }
  } },
  field(t("user"), user), field(t("password"), password),
  h("button", { class: "primary", type: "submit", id: "login-submit" }, t("login")), err);
  page(t("login"), form);
}
