// Every device the person may see, filtered by class, state ("hỏng": degraded or offline) and text.
import { h, api, page, hashQuery, can } from "../lib/core.js";
import { t, word, fmtTime, ago } from "../lib/i18n.js";
import { stateBadge, table, select, field } from "../lib/ui.js";
import { CLASSES, isBroken, worstFirst, faultWords } from "../lib/fleet.js";
import { onLive } from "../lib/live.js";
import { readinessPanel } from "./readiness.js";

// Searched as typed on any keyboard: without diacritics ("dong mai" finds "Đông Mai").
const plain = (s) => s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/[đĐ]/g, "d").toLowerCase();

const STATES = ["broken", "ok", "degraded", "offline", "unknown"];

export async function devicesPage() {
  // Storm readiness asks speakers to self-test: for those who may command devices.
  const [list, places] = await Promise.all([api("/api/v1/devices"), can("manage_devices") ? api("/api/v1/places") : []]);
  const q0 = hashQuery();
  const q = h("input", { type: "search", placeholder: t("search"), value: q0.get("q") || "", oninput: () => draw() });
  const cls = select([["", t("all")], ...CLASSES.map((c) => [c, word("cls", c)])], q0.get("class") || "",
    { onchange: () => draw(), "data-filter": "class" });
  const st = select([["", t("all")], ...STATES.map((s) => [s, s === "broken" ? t("broken") : word("state", s)])],
    q0.get("state") || "", { onchange: () => draw(), "data-filter": "state" });
  const holder = h("div");
  function draw() {
    const text = plain(q.value.trim());
    const rows = list.filter((d) => (!cls.value || d.device_class === cls.value)
      && (!st.value || (st.value === "broken" ? isBroken(d) : d.state === st.value))
      && (!text || plain([d.id, d.site_name, d.village_name].join(" ")).includes(text)));
    rows.sort((a, b) => worstFirst(a, b) || a.id.localeCompare(b.id));
    // The filters stay in the address, so a filtered list can be bookmarked or shared.
    const p = new URLSearchParams();
    if (cls.value) p.set("class", cls.value);
    if (st.value) p.set("state", st.value);
    if (text) p.set("q", q.value.trim());
    history.replaceState(null, "", `#/devices${p.toString() ? "?" + p : ""}`);
    holder.replaceChildren(h("p", { class: "muted" }, t("devicesOf", { n: rows.length })), table([
      { label: t("deviceId"), cell: (d) => h("a", { href: `#/device/${encodeURIComponent(d.id)}` }, d.id) },
      { label: t("state"), cell: (d) => stateBadge(d.state, d.id) },
      { label: t("cls"), cell: (d) => word("cls", d.device_class) },
      { label: t("village"), cell: (d) => d.village_name || "—" },
      { label: t("site"), cell: (d) => d.site_name || d.site },
      { label: t("since"), cell: (d) => h("span", { "data-device-since": d.id, title: ago(d.since) },
        fmtTime(d.since)) },
      { label: t("reason"), cell: (d) => h("span", { "data-device-faults": d.id }, faultWords(d.reasons)),
        class: "muted" },
    ], rows, { testid: "device-table", rowAttrs: (d) => ({ "data-device": d.id }) }));
  }
  draw();
  page(t("devices"), h("div", { class: "panel filters" }, field(t("search"), q), field(t("cls"), cls),
    field(t("state"), st)),
    holder, readinessPanel(places));
  onLive("device", (e) => {
    const d = list.find((x) => x.id === e.id);
    if (d) Object.assign(d, { state: e.state, since: e.since, reasons: e.reasons });
  });
}
