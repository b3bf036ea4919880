// API tokens of one person: listed (name, made, last used, expiry; never the secret), made (the secret
// shown once, with a copy button) and revoked. The account page shows one's own, the users page anyone's.
import { h, api, okBox, ask, attempt } from "./core.js";
import { t, fmtTime } from "./i18n.js";
import { table, field, select } from "./ui.js";

const VALIDITY = [["90", 90], ["365", 365], ["30", 30], ["", null]];

/**
 * base: "/api/v1/me/tokens" or "/api/v1/users/{name}/tokens"; who: the owner's login, for the questions.
 * Returns a panel that draws itself again after each change.
 */
export function tokenPanel(base, who, title = t("tokens")) {
  const msg = h("div", { role: "status" });
  const list = h("div", { "data-testid": "token-list" });
  const shown = h("div");
  const draw = () => attempt(msg, async () => {
    const tokens = await api(base);
    list.replaceChildren(table([
      { label: t("tokenName"), cell: (x) => h("strong", { "data-raw": "" }, x.name) },
      { label: t("tokenMade"), cell: (x) => fmtTime(x.created_at) },
      { label: t("tokenUsed"), cell: (x) => (x.last_used ? fmtTime(x.last_used) : t("tokenNever")) },
      { label: t("tokenExpires"), cell: (x) => (x.expired ? h("span", { class: "miss" }, t("tokenExpired"))
        : x.expires_at ? fmtTime(x.expires_at) : t("tokenNoExpiry")) },
      { label: "", cell: (x) => h("button", { class: "danger", type: "button", "data-revoke-token": x.id,
        onclick: () => ask(t("confirmRevoke", { name: x.name, user: who })) && attempt(msg, async () => {
          await api(`${base}/${encodeURIComponent(x.id)}`, { method: "DELETE" });
          msg.replaceChildren(okBox(t("tokenRevoked", { name: x.name })));
          shown.replaceChildren();
          await draw();
        }) }, t("revoke")) },
    ], tokens, { testid: "token-table", empty: t("noTokens") }));
  });

  const name = h("input", { required: true, maxlength: 100, autocomplete: "off" });
  const days = select(VALIDITY.map(([v, d]) => [v, d ? t("days", { n: d }) : t("tokenNoExpiry")]), "90");
  const form = h("form", { "data-testid": "new-token-form", onsubmit: (ev) => {
    ev.preventDefault();
    attempt(msg, async () => {
      const body = { name: name.value };
      if (days.value) body.valid_days = Number(days.value);
      const r = await api(base, { method: "POST", body });
      name.value = "";
      msg.replaceChildren();
      shown.replaceChildren(secretBox(r));
      await draw();
    });
  } }, h("h3", {}, t("token")), field(t("tokenLabel"), name), field(t("tokenValidity"), days),
  h("button", { class: "primary", type: "submit" }, t("tokenCreate")));
  draw();
  return h("section", { class: "panel", "data-testid": "tokens", "data-tokens-of": who },
    h("h2", {}, title), h("p", { class: "muted hint" }, t("tokensNote")), msg, shown, list, form);
}

/** The secret once: selectable text, a copy button, and the warning that it will not be shown again. */
function secretBox(r) {
  const code = h("code", { "data-testid": "new-token", "data-raw": "", class: "secret" }, r.token);
  const copied = h("span", { role: "status" });
  return okBox([h("p", {}, h("strong", { "data-raw": "" }, r.name), ": ", t("tokenNote")), h("p", {}, code),
    navigator.clipboard ? h("button", { class: "plain", type: "button", onclick: () => navigator.clipboard
      .writeText(r.token).then(() => copied.replaceChildren(t("copied")), () => copied.replaceChildren(t("copyByHand")))
    }, t("copy")) : h("p", { class: "muted hint" }, t("copyByHand")), copied]);
}
