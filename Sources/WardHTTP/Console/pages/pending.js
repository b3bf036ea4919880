// Devices that connected without being registered: adopt them at a site, or reject them.
import { h, api, page, can, errorBox, okBox, redrawSoon, showError } from "../lib/core.js";
import { t, word, fmtTime } from "../lib/i18n.js";
import { table, field, sitePicker } from "../lib/ui.js";

export async function pendingPage() {
  const [list, places] = await Promise.all([api("/api/v1/pending"), api("/api/v1/places")]);
  const msg = h("div", { role: "status" });
  const manage = can("manage_devices");
  const siteName = Object.fromEntries(places.map((p) => [p.id, p.name]));
  const act = (p, pick) => [
    field(t("chooseSite"), pick),
    h("button", { class: "primary", onclick: async () => {
      if (!pick.value) { pick.focus(); return; }
      try {
        await api(`/api/v1/pending/${encodeURIComponent(p.device_id)}/adopt`, { method: "POST",
          body: { site: pick.value } });
        msg.replaceChildren(okBox(t("adoptedAt", { id: p.device_id, site: siteName[pick.value] })));
        redrawSoon(1200);
      } catch (e) { showError(msg, e); }
    } }, t("adopt")),
    h("button", { class: "danger", onclick: async () => {
      try {
        await api(`/api/v1/pending/${encodeURIComponent(p.device_id)}/reject`, { method: "POST", body: {} });
        redrawSoon(0);
      } catch (e) { showError(msg, e); }
    } }, t("reject"))];
  page(t("pending"), msg, table([
    { label: t("deviceId"), cell: (p) => h("strong", {}, p.device_id) },
    { label: t("cls"), cell: (p) => (p.device_class ? word("cls", p.device_class) : "—") },
    { label: t("model"), cell: (p) => p.model || "—" },
    { label: t("firstSeen"), cell: (p) => fmtTime(p.first_seen) },
    ...(manage ? [{ label: t("chooseSite"), cell: (p) => act(p, sitePicker(places,
      { "data-adopt-site": p.device_id })) }] : []),
  ], list, { testid: "pending-table", rowAttrs: (p) => ({ "data-pending": p.device_id }) }));
}
