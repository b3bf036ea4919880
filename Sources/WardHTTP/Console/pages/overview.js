// The overview: disaster warnings in force, the fleet by class, the coverage KPIs of this month, open alarms;
// with controller nodes, a warning for communes no node looks after and the nodes themselves.
import { h, api, page, can } from "../lib/core.js";
import { t } from "../lib/i18n.js";
import { classCards, approvalBadge } from "./attention.js";
import { kpiTable } from "./kpi.js";
import { alarmTable } from "./alarms.js";
import { onLive } from "../lib/live.js";
import { cluster } from "../lib/cluster.js";
import { warningsInForce } from "./warnings.js";

export async function overviewPage() {
  const [kpi, devices, alarms, badge, nodes, warnings] = await Promise.all([api("/api/v1/kpi"), api("/api/v1/devices"),
    api("/api/v1/alarms"), approvalBadge(), cluster(), warningsInForce()]);
  const cards = h("div", {}, classCards(devices));
  // The officer's most frequent task, one tap from landing.
  const quick = can("schedule") ? h("p", {}, h("a", { class: "button-link cta", href: "#/broadcasts/new",
    "data-testid": "quick-schedule" }, `＋ ${t("newItem")}`)) : null;
  page(t("overview"), warnings, nodes && nodes.warning, badge, quick, cards, h("h2", {}, t("activeAlarms")),
    alarmTable(alarms, devices), h("h2", {}, t("kpi")), kpiTable(kpi.deployment), nodes && nodes.nodes);
  onLive("device", (e) => {
    const d = devices.find((x) => x.id === e.id);
    if (d) { d.state = e.state; cards.replaceChildren(classCards(devices)); }
  });
}
