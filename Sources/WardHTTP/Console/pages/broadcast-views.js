// The radio's views other than the form: the week with its items, approval with a preview,
// the live playback log, the province's bulletins and quiet hours.
import { h, api, can, errorBox, okBox, ask, redraw, redrawSoon, attempt, showError, toast } from "../lib/core.js";
import { t, word, fmtDay, fmtClock, fmtTime, fmtPct, localDay, fmtDuration } from "../lib/i18n.js";
import { table, field, select } from "../lib/ui.js";
import { onLive } from "../lib/live.js";
import { targetWords, repeatWords, firstPlay } from "./broadcast-form.js";

const enc = encodeURIComponent;
const statusWord = (b) => word("status", b.status);

// ---------- the week ----------

function editor(b, holder) {
  const r = b.item.recurrence || {};
  const rule = Object.keys(r.rule || { once: {} })[0];
  const title = h("input", { id: "edit-title", name: "title", value: b.item.title, required: true });
  const day = h("input", { id: "edit-day", type: "date", value: r.first_day || "" });
  const time = h("input", { id: "edit-time", type: "time", value: (r.start_time || "").slice(0, 5) });
  const repeat = select(["once", "daily", "weekdays", ...(rule === "weekly" ? ["weekly"] : [])]
    .map((x) => [x, x === "weekly" ? repeatWords(r) : word("repeat", x)]), rule, { id: "edit-repeat" });
  const volume = h("input", { id: "edit-volume", type: "number", min: 0, max: 100, value: b.item.volume ?? "" });
  const f = h("form", { class: "panel", id: "edit-form", onsubmit: async (ev) => {
    ev.preventDefault();
    // Only what changed is sent: the server keeps the rest (a new day keeps the time and the repeat).
    const body = { title: title.value };
    if (day.value && day.value !== (r.first_day || "")) body.day = day.value;
    if (time.value && time.value !== (r.start_time || "").slice(0, 5)) body.time = time.value;
    if (body.day && !body.time) body.time = (r.start_time || "").slice(0, 5);
    if (body.time && !body.day) body.day = r.first_day;
    if (repeat.value !== rule) body.repeat = repeat.value;
    if (volume.value !== "") body.volume = Number(volume.value);
    try {
      const done = await api(`/api/v1/broadcasts/${enc(b.item.id)}`, { method: "PATCH", body });
      holder.replaceChildren(okBox(`${t("saved")}: ${done.item.title} — ${statusWord(done)}`));
      redrawSoon(1500);
    } catch (err) {
      holder.replaceChildren(f, errorBox(err));
      holder.lastChild.scrollIntoView({ block: "center", behavior: "smooth" });
    }
  } }, h("h3", {}, `${t("edit")}: ${b.item.title}`), field(t("title"), title),
  h("div", { class: "row" }, field(t("day"), day), field(t("time"), time)), field(t("repeat"), repeat),
  field(t("volumeOptional"), volume),
  h("button", { class: "primary", type: "submit", id: "edit-submit" }, t("save")),
  h("button", { class: "plain", type: "button", onclick: () => holder.replaceChildren() }, t("cancel")));
  holder.replaceChildren(f);
  f.scrollIntoView({ block: "start" });
}

function itemActions(b, holder, msg) {
  const act = (fn, done) => async () => {
    try { await fn(); if (done) toast(done); redraw(); } catch (e) { showError(msg, e); }
  };
  return [
    b.status === "pending_approval" && can("approve") ? h("button", { class: "primary", "data-approve": b.item.id,
      onclick: act(() => api(`/api/v1/broadcasts/${enc(b.item.id)}/approve`, { method: "POST", body: {} }),
        t("approvedDone", { title: b.item.title })) },
        t("approve")) : null,
    b.status !== "cancelled" && b.item.level !== "emergency" && can("schedule") ? h("button", { class: "plain",
      "data-edit": b.item.id, onclick: () => editor(b, holder) }, t("edit")) : null,
    b.status !== "cancelled" && can("schedule") ? h("button", { class: "plain", "data-cancel": b.item.id,
      onclick: async () => { if (ask(t("confirmCancel", { title: b.item.title }))) await act(() =>
        api(`/api/v1/broadcasts/${enc(b.item.id)}/cancel`, { method: "POST", body: {} }))(); } }, t("cancel")) : null,
  ];
}

export async function weekView(c) {
  const slots = await api("/api/v1/broadcasts/upcoming?days=7");
  const days = [...Array(7).keys()].map((i) => localDay(Date.now() + i * 86400000));
  const week = h("div", { class: "week", "data-testid": "week" }, days.map((d) => {
    const mine = slots.filter((s) => localDay(s.start) === d);
    return h("section", { class: "day" }, h("h3", {}, fmtDay(d)),
      mine.length ? mine.map((s) => h("div",
        { class: `slot ${s.level} ${s.status === "pending_approval" ? "pending" : ""}`,
        "data-slot": s.item }, h("b", {}, fmtClock(s.start)), " ", s.title,
      s.status === "pending_approval" ? ` (${word("status", s.status)})` : "")) : h("p", { class: "muted" }, "—"));
  }));
  const holder = h("div", { "data-testid": "item-editor" }), msg = h("div");
  const items = table([
    { label: t("title"), cell: (b) => b.item.title },
    { label: t("level"), cell: (b) => word("level", b.item.level) },
    { label: t("repeat"),
      cell: (b) => `${repeatWords(b.item.recurrence)}, ${(b.item.recurrence.start_time || "").slice(0, 5)}` },
    { label: t("villages"), cell: (b) => targetWords(b.item.target, c.name) },
    { label: t("status"), cell: (b) => statusWord(b) },
    { label: "", cell: (b) => itemActions(b, holder, msg) },
  ], c.items, { testid: "item-table", rowAttrs: (b) => ({ "data-item": b.item.id }) });
  return [week, msg, h("h3", {}, t("items")), items, holder];
}

// ---------- approval ----------

function preview(b, media) {
  const m = b.programme && b.programme.media;
  if (m) {
    const info = media.find((x) => x.sha256 === m.sha256);
    return h("div", { class: "preview" }, info ? h("p", {}, `${info.title} (${fmtDuration(info.duration)})`) : null,
      info && info.text ? h("blockquote", {}, info.text) : null,
      h("audio", { controls: true, preload: "none", src: `/media/${m.sha256}`, "aria-label": t("preview") }));
  }
  const s = b.programme && b.programme.stream;
  return s ? h("p", {}, `${word("sourceKind", "stream")}: `, h("code", {}, s.url)) : null;
}

export function approvalView(c) {
  const msg = h("div");
  if (!c.pending.length) return h("p", { "data-testid": "no-approvals" }, t("noApprovals"));
  return [msg, h("ul", { class: "approvals", "data-testid": "approvals" }, c.pending.map((b) =>
    h("li", { class: "panel", "data-pending-item": b.item.id },
      h("h3", {}, b.item.title, " ", h("span", { class: `pill level-${b.item.level}` }, word("level", b.item.level))),
      h("p", {},
        `${fmtDay(firstPlay(b.item.recurrence))} ${t("at")} ${(b.item.recurrence.start_time || "").slice(0, 5)} · `
        + repeatWords(b.item.recurrence)),
      h("p", {}, `${t("villages")}: ${targetWords(b.item.target, c.name)}`),
      h("p", { class: "muted" }, t("askedBy", { who: b.created_by || "—" }),
        b.created_at ? ` · ${fmtTime(b.created_at)}` : ""),
      preview(b, c.media),
      h("div", { class: "row" }, itemActions(b, h("div"), msg)))))];
}

// ---------- playback log ----------

function outcomeWords(x) {
  const [base, reason] = x.outcome.split(":");
  let s = word("outcome", base);
  if (reason) s += ` (${word("reason", reason)})`;
  if (x.start_offset !== null && x.start_offset !== undefined) {
    s += ` · ${x.start_offset > 1 ? t("late", { s: Math.round(x.start_offset) }) : t("onTime")}`;
  }
  return s;
}

export function logView(c) {
  const date = h("input", { type: "date", value: localDay(Date.now()), max: localDay(Date.now()),
    "aria-label": t("date") });
  const out = h("div", { "data-testid": "playback-log", "aria-live": "polite" });
  const show = async () => {
    try {
      const r = await api(`/api/v1/playback?date=${date.value}`);
      out.replaceChildren(...(r.items.length ? r.items.map((x) => h("section", { class: "panel", "data-reach": x.item },
        h("h3", {}, x.title, " · ", word("level", x.level)),
        h("p", {}, `${t("reach")}: ${x.reach.played}/${x.reach.targeted} ${t("played")} `
          + `(${fmtPct(x.reach.targeted ? x.reach.played / x.reach.targeted : null)})`
          + (x.reach.interrupted ? ` · ${x.reach.interrupted} ${t("interruptedCount")}` : "")),
        h("p", { class: "muted" }, Object.entries(x.by_village || {}).map(([v,
          rc]) => `${v ? c.name[v] || v : t("outsideVillages")}: ${rc.played}/${rc.targeted}`)
          .join(" · ")),
        table([{ label: t("speaker"), cell: (row) => row.speaker }, { label: t("village"),
          cell: (row) => row.place_name || "—" },
          { label: t("time"), cell: (row) => fmtClock(row.scheduled_start) }, { label: t("outcome"),
            cell: outcomeWords }],
        r.rows.filter((row) => row.item === x.item), { rowAttrs: (row) => ({ "data-play": row.play,
          "data-speaker": row.speaker }) })))
        : [h("p", {}, t("none"))]));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  };
  date.addEventListener("change", show);
  onLive("playback", () => { if (date.value === localDay(Date.now())) show(); });
  show();
  return [h("div", { class: "panel row" }, field(t("date"), date)), out];
}

// ---------- the province's bulletins ----------

export async function inboxView() {
  const inbox = await api("/api/v1/inbox");
  const msg = h("div");
  return [msg, table([
    { label: t("received"), cell: (b) => fmtTime(b.received_at) }, { label: t("title"), cell: (b) => b.title },
    // What a text (TTS) bulletin says, to decide on it without hearing it.
    { label: t("text"), cell: (b) => b.text || "" },
    { label: t("level"), cell: (b) => word("level", b.level) },
    { label: t("status"), cell: (b) => word("inboxStatus", b.status) },
    { label: "", cell: (b) => {
      if (!can("schedule")) return null;
      const day = h("input", { type: "date", value: localDay(Date.now() + 86400000) }), time = h("input",
        { type: "time", value: "06:00" });
      const go = (path, body) => attempt(msg, async () => { await api(path, { method: "POST", body }); redraw(); });
      return [h("div", { class: "row" }, field(t("day"), day), field(t("time"), time)),
        h("button", { class: "primary", onclick: () => go(`/api/v1/inbox/${b.id}/schedule`, { day: day.value,
          time: time.value }) },
          t("scheduleIt")),
        h("button", { class: "plain", onclick: () => go(`/api/v1/inbox/${b.id}/dismiss`, {}) }, t("dismiss"))];
    } },
  ], inbox, { testid: "inbox" })];
}

// ---------- quiet hours ----------

export async function quietView(c) {
  const rows = await Promise.all(c.communes.map(async (cm) => {
    const q = await api(`/api/v1/quiet-hours/${enc(cm.id)}`).catch(() => null);
    return { commune: cm, from: q && q.from, to: q && q.to };
  }));
  const editable = can("approve");
  return [h("p", { class: "muted" }, t("quietNote")), ...rows.map((r) => {
    const msg = h("div", { role: "status" });
    const from = h("input", { type: "time", value: (r.from || "").slice(0, 5), disabled: !editable });
    const to = h("input", { type: "time", value: (r.to || "").slice(0, 5), disabled: !editable });
    return h("form", { class: "panel", "data-quiet": r.commune.id, onsubmit: async (ev) => {
      ev.preventDefault();
      await attempt(msg, async () => {
        if (from.value && to.value) {
          const res = await api(`/api/v1/quiet-hours/${enc(r.commune.id)}`, { method: "PUT", body: { from: from.value,
            to: to.value } });
          // They hold back plays already approved too: say which, and leave it on screen.
          const blocked = res.blocked || [];
          msg.replaceChildren(okBox(t("saved")), ...(blocked.length ? [h("div", { class: "notice", "data-blocked": "" },
            h("p", {}, t("quietBlocks", { n: blocked.reduce((a, b) => a + b.plays, 0) })),
            h("ul", {}, blocked.map((b) => h("li", {}, `${b.title}: ${t("quietBlockedPlays", { n: b.plays })}, `
              + `${t("quietNext")} ${fmtTime(b.next)}`))))] : []));
          if (!blocked.length) redrawSoon(1200);
          return;
        }
        await api(`/api/v1/quiet-hours/${enc(r.commune.id)}`, { method: "DELETE" });
        msg.replaceChildren(okBox(t("saved")));
        redrawSoon(1200);  // the form then says what is set
      });
    } }, h("h3", {}, r.commune.name), r.from ? null : h("p", { class: "muted" }, t("quietNone")),
    h("div", { class: "row" }, field(t("quietFrom"), from), field(t("quietTo"), to)),
    editable ? h("button", { class: "primary", type: "submit" }, t("save")) : null, msg);
  })];
}
