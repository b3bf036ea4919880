// Emergency: a dialog that asks once, sends, closes, and then shows the speakers acknowledging
// live ("12 / 15 loa đã nhận") from the playback log.
import { h, api, errorBox, okBox, showError } from "../lib/core.js";
import { t, word } from "../lib/i18n.js";
import { field } from "../lib/ui.js";
import { onLive } from "../lib/live.js";

function progress(item, into) {
  const draw = async () => {
    try {
      // The item's delivery, speaker by speaker, with n (acknowledged) of N (targeted) counted by the server.
      const r = await api(`/api/v1/broadcasts/${encodeURIComponent(item.id)}/delivery`);
      const { targeted, acknowledged, finished } = r.counts;
      into.replaceChildren(okBox([h("strong", {}, `${t("sent")}: ${item.title}`), " — ",
        h("span", { "data-testid": "emergency-acks", "data-acked": acknowledged, "data-total": targeted },
          t("acksLive", { n: acknowledged, total: targeted })), " · ", t("acksDone", { n: finished, total: targeted })],
      { "data-testid": "emergency-sent" }),
      h("ul", { class: "lines compact" }, r.speakers.map((x) => h("li", {},
        `${x.device_id}${x.village_name ? ` · ${x.village_name}` : ""} · ${word("outcome", x.outcome)}`
        + (x.reason ? ` (${word("reason", x.reason)})` : "")))));
    } catch (e) { into.replaceChildren(errorBox(e)); }
  };
  draw();
  onLive("playback", (e) => { if (!e.items || e.items.includes(item.id)) draw(); });
}

export function emergencyButton(c) {
  const out = h("div", { "data-testid": "emergency-progress", "aria-live": "polite" });
  const title = h("input", { id: "em-title", required: true, maxlength: 200 });
  const text = h("textarea", { id: "em-text", rows: 4, required: true });
  const err = h("div");
  const dialog = h("dialog", { id: "emergency-dialog", "aria-labelledby": "em-heading" },
    h("form", { method: "dialog", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const r = await api("/api/v1/emergency", { method: "POST",
          body: { title: title.value, tts: text.value, communes: c.communes.map((x) => x.id) } });
        const item = r.item || r;
        dialog.close();
        progress(item, out);
      } catch (e) { showError(err, e); }
    } },
    h("h2", { id: "em-heading" }, t("emergencyTitle")),
    field(t("title"), title), field(t("text"), text),
    h("p", { class: "warning" }, t("confirmEmergency")), err,
    h("div", { class: "row" }, h("button", { class: "danger", type: "submit", id: "emergency-confirm" }, t("send")),
      h("button", { class: "plain", type: "button", onclick: () => dialog.close() }, t("cancel")))));
  return h("div", { class: "emergency" },
    h("button", { class: "danger big", id: "emergency-button",
      onclick: () => { err.replaceChildren(); dialog.showModal(); } },
      `⚠ ${t("emergencyButton")}`), dialog, out);
}
