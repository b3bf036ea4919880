// "Cần xử lý": the technician's landing page. Only broken devices (offline, then degraded),
// the longest broken first; the class cards filter the device list; everything updates live.
import { h, api, page, can } from "../lib/core.js";
import { t, word, ago, fmtTime } from "../lib/i18n.js";
import { stateBadge } from "../lib/ui.js";
import { CLASSES, isBroken, worstFirst, faultWords } from "../lib/fleet.js";
import { onLive } from "../lib/live.js";
import { cluster } from "../lib/cluster.js";
import { warningsInForce } from "./warnings.js";

/** One broken device as a line a thumb can open. */
function brokenLine(d) {
  return h("li", { "data-broken": d.id },
    h("a", { href: `#/device/${encodeURIComponent(d.id)}`, class: `line line-${d.state}` },
      h("span", { class: "line-head" }, h("strong", {}, d.id), " ", stateBadge(d.state, d.id),
        h("span", { class: "line-ago" }, `${ago(d.since)} · ${t("sinceAt", { at: fmtTime(d.since) })}`)),
      h("span", { class: "line-where" }, [word("cls", d.device_class), d.village_name,
        d.site_name].filter(Boolean).join(" · ")),
      h("span", { class: "line-why" }, faultWords(d.reasons) || word("state", d.state))));
}

/** The four class cards: a tap opens the list of that class's broken devices. */
export function classCards(devices) {
  return h("div", { class: "cards", "data-testid": "class-cards" }, CLASSES.map((c) => {
    const mine = devices.filter((d) => d.device_class === c);
    const broken = mine.filter(isBroken).length;
    return h("a", { class: `card ${broken ? "card-bad" : "card-good"}`, "data-class-card": c,
      href: `#/devices?class=${c}${broken ? "&state=broken" : ""}` },
    h("span", { class: "card-title" }, word("clsPlural", c)),
    h("b", { "data-count": "broken" }, broken ? t("brokenCount", { n: broken }) : t("allWorking")),
    h("span", { class: "muted" }, t("devicesOf", { n: mine.length })));
  }));
}

/** The approver's badge: items waiting, with a way straight to them. */
export async function approvalBadge() {
  if (!can("approve")) return null;
  const items = await api("/api/v1/broadcasts");
  const n = items.filter((b) => b.status === "pending_approval").length;
  if (!n) return null;
  return h("a", { class: "badge-link", href: "#/broadcasts/approval", "data-testid": "approval-badge" },
    h("span", { class: "badge" }, n), " ", t("awaitingApproval", { n }), " — ", t("review"));
}

export async function attentionPage() {
  // Communes no controller node looks after are warned of here too: their devices' states are not current.
  const [devices, badge, nodes, warnings] = await Promise.all([api("/api/v1/devices"), approvalBadge(),
    cluster({ nodes: false }), warningsInForce()]);
  const holder = h("div");
  const draw = () => {
    const broken = devices.filter(isBroken).sort(worstFirst);
    holder.replaceChildren(classCards(devices),
      h("h2", {}, broken.length ? t("brokenCount", { n: broken.length }) : t("allWorking")),
      broken.length ? h("ul", { class: "lines", "data-testid": "attention-list" }, broken.map(brokenLine))
        : h("p", { class: "all-good", "data-testid": "attention-empty" }, "✓ ", t("allWorking")),
      h("p", {}, h("a", { class: "button-link", href: "#/devices?state=broken" }, t("broken"))));
  };
  draw();
  page(t("attention"), warnings, nodes && nodes.warning, badge, holder);
  onLive("device", (e) => {
    const d = devices.find((x) => x.id === e.id);
    if (!d) return;
    Object.assign(d, { state: e.state, since: e.since, reasons: e.reasons });
    draw();
  });
  // "đã 2 giờ 10 phút" keeps counting while the page is open.
  const at = location.hash;
  const timer = setInterval(() => { if (location.hash !== at) clearInterval(timer); else draw(); }, 60000);
}
