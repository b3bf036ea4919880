// One's own account: who one is, changing one's password, and one's own API tokens.
import { S, h, api, page, showError } from "../lib/core.js";
import { t, word } from "../lib/i18n.js";
import { field } from "../lib/ui.js";
import { tokenPanel } from "../lib/tokens.js";

export function accountPage() {
  const msg = h("div", { role: "status" });
  const current = h("input", { id: "cur-pw", type: "password", autocomplete: "current-password", required: true });
  const next = h("input", { id: "new-pw", type: "password", autocomplete: "new-password", minlength: 10,
    required: true });
  const f = h("form", { class: "panel narrow", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      await api("/api/v1/me/password", { method: "POST", body: { current: current.value, new: next.value } });
      S.me = null;
      location.hash = "#/login";
    } catch (e) { showError(msg, e); }
  } }, h("h2", {}, t("changePassword")), field(t("currentPassword"), current), field(t("newPassword"), next),
  h("button", { class: "primary", type: "submit" }, t("save")), msg);
  page(t("account"), h("p", {}, t("meRole", { name: S.me.display_name, user: S.me.user, role: word("role",
    S.me.role) })), f, tokenPanel("/api/v1/me/tokens", S.me.user));
}
