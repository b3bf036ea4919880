// The commune radio: the week, a new item, items awaiting approval, the playback log, bulletins
// from the province and quiet hours, each at its own address; the emergency dialog on all of them.
import { h, api, page, can } from "../lib/core.js";
import { t } from "../lib/i18n.js";
import { tabs } from "../lib/ui.js";
import { emergencyButton } from "./broadcast-emergency.js";
import { newItemView } from "./broadcast-form.js";
import { weekView, approvalView, logView, inboxView, quietView } from "./broadcast-views.js";

/** What every view needs: places, items, media; read once per view. */
async function context() {
  const [items, places, media] = await Promise.all([api("/api/v1/broadcasts"), api("/api/v1/places"),
    api("/api/v1/media")]);
  const name = Object.fromEntries(places.map((p) => [p.id, p.name]));
  return {
    items, places, media, name,
    villages: places.filter((p) => p.level === "village"),
    communes: places.filter((p) => p.level === "commune"),
    pending: items.filter((b) => b.status === "pending_approval"),
  };
}

export async function broadcastsPage([view = "week"] = []) {
  const c = await context();
  const views = [
    ["week", t("week"), weekView],
    ...(can("schedule") ? [["new", t("newItem"), newItemView]] : []),
    ["approval", t("approval"), approvalView, c.pending.length || null],
    ["log", t("playback"), logView], ["inbox", t("inbox"), inboxView], ["quiet", t("quietHours"), quietView],
  ];
  const current = views.find(([id]) => id === view) || views[0];
  const body = await current[2](c);
  page(t("broadcasts"),
    can("send_emergency") ? emergencyButton(c) : null,
    tabs(views.map(([id, label, , badge]) => [`#/broadcasts/${id}`, label, badge]), `#/broadcasts/${current[0]}`),
    h("section", { "data-view": current[0] }, h("h2", {}, current[1]), body));
}
