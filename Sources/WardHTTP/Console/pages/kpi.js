// The plans' KPIs for a month, and the monthly report: shown inline, printed, downloaded, kept.
import { h, api, page, can, errorBox, showError } from "../lib/core.js";
import { t, word, fmtPct, fmtTime, localDay, oneLanguage, lang } from "../lib/i18n.js";
import { table } from "../lib/ui.js";

export function kpiTable(scope) {
  return table([
    { label: t("kpiName"), cell: (k) => word("kpi", k.id) },
    { label: t("value"), cell: (k) => fmtPct(k.value) },
    { label: t("target"), cell: (k) => (k.target ? `${k.target.strict ? "> " : "≥ "}${fmtPct(k.target.value)}` : "—") },
    { label: t("met"), cell: (k) => h("span", { class: k.met === true ? "met" : k.met === false ? "miss" : "muted" },
      k.met === true ? `✓ ${t("met")}` : k.met === false ? `✗ ${t("notMet")}` : t("noData")) },
    { label: t("where"), class: "muted", cell: (k) => (k.misses || []).slice(0, 5)
      .map((m) => `${m.name}: ${oneLanguage(m.reason)}`).join("; ") || "—" },
  ], scope.kpis, { testid: "kpi-table", rowAttrs: (k) => ({ "data-kpi": k.id, "data-kpi-value": k.value ?? "" }) });
}

const thisMonth = () => localDay(Date.now()).slice(0, 7);

/** The report as it prints, in a frame on the page, with a print button. */
async function reportView(month, into) {
  const url = `/api/v1/reports/${month}?format=html&lang=${lang.current}`;
  const r = await fetch(url, { credentials: "same-origin", headers: { "Accept-Language": lang.current } });
  if (!r.ok) throw new Error(`${t("error")} ${r.status}`);
  const frame = h("iframe", { class: "report-frame", title: `${t("report")} ${month}`, "data-testid": "report-frame" });
  frame.srcdoc = await r.text();
  into.replaceChildren(h("p", {}, h("button", { class: "primary", "data-testid": "print-report",
    onclick: () => frame.contentWindow.print() }, `🖨 ${t("print")}`)), frame);
}

export async function kpiPage() {
  const month = h("input", { type: "month", value: thisMonth(), max: thisMonth(), "aria-label": t("month") });
  const out = h("div"), reportOut = h("div"), keptOut = h("div", { "data-testid": "kept-reports" });
  // The figures always belong to the month in the box: only the answer to the latest question is drawn.
  let asked = 0;
  const show = async () => {
    const m = month.value, n = ++asked;
    out.replaceChildren(h("p", { class: "muted" }, t("loading")));
    reportOut.replaceChildren();
    try {
      const r = await api(`/api/v1/kpi?month=${encodeURIComponent(m)}`);
      if (n !== asked) return;
      out.replaceChildren(h("h2", { "data-kpi-month": m }, `${t("month")} ${m.slice(5)}/${m.slice(0, 4)}`,
        m >= thisMonth() ? h("span", { class: "provisional", "data-testid": "provisional" },
          ` — ${t("provisional")}`) : null),
      kpiTable(r.deployment));
    } catch (e) { if (n === asked) out.replaceChildren(errorBox(e)); }
  };
  const showKept = async () => {
    const kept = await api("/api/v1/reports");
    keptOut.replaceChildren(table([
      { label: t("month"), cell: (r) => r.month }, { label: t("scope"), cell: (r) => r.scope || t("wholeDeployment") },
      { label: t("format"), cell: (r) => h("a",
        { href: `/api/v1/reports/${r.month}/kept?format=${r.format}&lang=${r.lang}`
        + `&scope=${encodeURIComponent(r.scope)}`, target: "_blank", rel: "noopener" }, r.format.toUpperCase()) },
      { label: t("language"), cell: (r) => (r.lang === "en" ? "English" : "Tiếng Việt") },
      { label: t("at"), cell: (r) => fmtTime(r.generated_at) }, { label: t("by"), cell: (r) => r.generated_by },
    ], kept));
  };
  month.addEventListener("change", show);
  const downloads = ["html", "csv", "json"].map((f) => h("a", { class: "button-link", target: "_blank", rel: "noopener",
    "data-format": f }, `${t("download")} ${f.toUpperCase()}`));
  const linkDownloads = () => downloads.forEach((a) => {
    a.href = `/api/v1/reports/${month.value}?format=${a.dataset.format}&lang=${lang.current}`;
  });
  linkDownloads();
  month.addEventListener("change", linkDownloads);
  const keep = can("generate_reports") ? h("button", { class: "plain", onclick: async () => {
    try { await api(`/api/v1/reports/${month.value}/keep`, { method: "POST", body: {} }); await showKept(); }
    catch (e) { showError(out, e); }
  } }, t("keep")) : null;
  const view = h("button", { class: "plain", "data-testid": "view-report", onclick: async () => {
    try { await reportView(month.value, reportOut); } catch (e) { reportOut.replaceChildren(errorBox(e)); }
  } }, t("report"));
  page(t("kpi"), h("div", { class: "panel row" }, month, h("button", { class: "primary", onclick: show }, t("show")),
    view, keep),
    out, reportOut, h("p", {}, downloads), h("h2", {}, t("kept")), keptOut);
  await Promise.all([show(), showKept()]);
}
