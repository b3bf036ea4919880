// Disaster warnings (CAP alerts, docs/warnings.md): the ones in force first, each in its QĐ 18 colour; one
// warning's area on a map with its villages coloured by reach, the repeats to come, reach per village and
// speaker, and Update/Cancel for an approver. Live: playback events and a short poll redraw it.
import { h, api, page, can, okBox, showError, ask, attempt, nodes } from "../lib/core.js";
import { t, word, fmtTime, fmtClock, fmtNumber } from "../lib/i18n.js";
import { table, field } from "../lib/ui.js";
import { onLive } from "../lib/live.js";

/** Redraws at most once a second, and every 20 s, while the page stays open. */
function keepFresh(draw) {
  const at = location.hash;
  let timer = null;
  const soon = () => { if (!timer) timer = setTimeout(() => { timer = null; if (location.hash === at) draw(); }, 1000); };
  onLive("playback", soon);
  const poll = setInterval(() => { if (location.hash !== at) clearInterval(poll); else draw(); }, 20000);
}

/** "Cấp 4 · đỏ" on the level's own colour (QĐ 18/2021). */
export function riskBadge(w) {
  if (!w.risk_level) return h("span", { class: "risk risk-none" }, t("riskNone"));
  const style = `background:${w.risk_colour};color:${w.risk_text_colour}`;
  return h("span", { class: "risk", "data-risk": w.risk_level, style },
    t("riskLevel", { n: w.risk_level }), " · ", word("riskColour", String(w.risk_level)));
}

const stateWord = (w) => word("warningState", w.state);
const headline = (w) => w.headline || w.event || w.identifier;

function summaryLine(w) {
  const where = w.villages.length ? t("warningVillagesN", { n: w.villages.length })
    : t("warningWholeCommunes", { n: w.communes.length });
  const parts = [word("level", w.level), where,
    t("warningSpeakersOnline", { on: w.speakers_online, n: w.speakers.length })];
  if (w.next_repeats && w.next_repeats.length) parts.push(t("warningNext", { at: fmtTime(w.next_repeats[0]) }));
  return parts.join(" · ");
}

/** The warnings in force, the most dangerous first, then the newest. */
const inForce = (list) => list.filter((w) => w.state === "active")
  .sort((a, b) => (b.risk_level || 0) - (a.risk_level || 0) || b.received_at.localeCompare(a.received_at));

/** One warning as a line to open: its level in its colour (the border too while in force), what and where. */
function card(w) {
  const active = w.state === "active";
  return h("li", {}, h("a", { class: `line warning-line${active ? "" : " ended"}`, href: `#/warnings/${w.id}`,
    "data-warning": w.id, "data-state": w.state,
    style: active && w.risk_colour ? `border-left-color:${w.risk_colour}` : null },
  h("span", { class: "line-head" }, riskBadge(w), " ", h("strong", {}, headline(w)),
    w.drill ? h("span", { class: "badge drill" }, t("drill")) : null),
  h("span", { class: "line-where" }, `${stateWord(w)} · ${t("received")} ${fmtTime(w.received_at)}`),
  active ? h("span", { class: "line-where" }, summaryLine(w)) : null));
}

/** What a landing page shows above everything else: the warnings in force (nothing when none is). */
export async function warningsInForce() {
  let list;
  try { list = await api("/api/v1/warnings"); } catch { return null; }
  const active = inForce(list);
  if (!active.length) return null;
  const title = t("warningsActive", { n: active.length });
  return h("section", { class: "panel", "data-testid": "warnings-in-force", "aria-label": title }, h("h2", {}, title),
    h("ul", { class: "lines" }, active.map(card)));
}

/** The list (#/warnings): warnings in force first, then the rest, newest first; #/warnings/{id}: one. */
export async function warningsPage([id] = []) {
  if (id) return warningPage(id);
  const holder = h("div", { "data-testid": "warnings" });
  const draw = async () => {
    let list;
    try { list = await api("/api/v1/warnings"); } catch (e) { showError(holder, e); return; }
    const active = inForce(list);
    const rest = list.filter((w) => w.state !== "active");
    holder.replaceChildren(...nodes([
      h("h2", {}, t("warningsActive", { n: active.length })),
      active.length ? h("ul", { class: "lines", "data-testid": "warnings-active" }, active.map(card))
        : h("p", { class: "muted", "data-testid": "warnings-none-active" }, t("warningsNoneActive")),
      rest.length ? [h("h2", {}, t("warningsEarlier")), h("ul", { class: "lines", "data-testid": "warnings-earlier" },
        rest.map(card))] : null,
      h("p", { class: "muted" }, t("warningsHint")),
    ]));
  };
  page(t("warnings"), holder);
  await draw();
  keepFresh(draw);
}

// ---- one warning ----

/** The colour of a place for one play, from how many speakers it was sent to and what they did: green when
 * every one played it, red when none did, "partial" when some did (never "nobody heard" for a half-heard one). */
function reachColour({ sent, played, playing, pending }) {
  if (!sent) return "none";
  if (played === sent) return "played";
  if (played + playing === sent) return "playing";
  if (pending === sent) return "pending";
  if (played + playing === 0) return "missed";
  return "partial";
}
const villageReach = (place) => reachColour(place.tally);
/** A map site: its speakers' outcomes (one not in the play's rows yet counts as pending). */
const siteReach = (outcomes) => {
  const count = (o) => outcomes.filter((x) => x === o).length;
  return reachColour({ sent: outcomes.length, played: count("played"), playing: count("playing"),
    pending: count("pending") });
};

function playName(p) {
  if (p.kind === "all_clear") return t("playAllClear");
  const what = p.number === 1 ? t("playFirst") : t("playRepeat", { n: p.number });
  return p.commune_name ? `${what} · ${p.commune_name}` : what;
}

/** The map: the alert's polygons and circles, the targeted speakers' sites coloured by the play's reach. */
function areaMap(w, play, devices) {
  const W = window.innerWidth < 600 ? 420 : 800, H = window.innerWidth < 600 ? 440 : 360;
  const outcome = {};
  const villageOf = {};
  for (const place of (play ? play.places : [])) {
    for (const s of place.speakers) { outcome[s.id] = s.outcome; villageOf[s.id] = place; }
  }
  const targeted = new Set(w.speakers);
  const sites = new Map();
  for (const d of devices) {
    if (d.device_class !== "speaker" || d.latitude == null || !targeted.has(d.id)) continue;
    // Named by village (a commune-level site by its own name), before a play as after it.
    const name = d.village_name || d.site_name || d.site;
    if (!sites.has(d.site)) sites.set(d.site, { lat: d.latitude, lon: d.longitude, name, ids: [] });
    sites.get(d.site).ids.push(d.id);
  }
  const pts = [];
  for (const a of w.areas) {
    for (const ring of a.polygons) for (const [la, lo] of ring) pts.push([la, lo]);
    for (const c of a.circles) {
      const dLa = c.radius_km / 111.32, dLo = c.radius_km / (111.32 * Math.cos((c.latitude * Math.PI) / 180) || 1);
      pts.push([c.latitude - dLa, c.longitude - dLo], [c.latitude + dLa, c.longitude + dLo]);
    }
  }
  for (const s of sites.values()) pts.push([s.lat, s.lon]);
  if (!pts.length) return null;
  const la0 = Math.min(...pts.map((p) => p[0])), la1 = Math.max(...pts.map((p) => p[0]));
  const lo0 = Math.min(...pts.map((p) => p[1])), lo1 = Math.max(...pts.map((p) => p[1]));
  // One scale for both axes (metres look like metres), centred.
  const kx = Math.cos((((la0 + la1) / 2) * Math.PI) / 180);
  const span = Math.max((lo1 - lo0) * kx, la1 - la0) || 0.01;
  const s = Math.min(W, H) * 0.8 / span;
  const X = (lo) => W / 2 + ((lo - (lo0 + lo1) / 2) * kx) * s;
  const Y = (la) => H / 2 - (la - (la0 + la1) / 2) * s;
  const shapes = [];
  const areaStyle = `fill:${w.risk_colour || "#999"};stroke:${w.risk_colour || "#666"}`;
  for (const a of w.areas) {
    for (const ring of a.polygons) {
      shapes.push(h("svg:polygon", { class: "warning-area", "data-testid": "warning-polygon",
        points: ring.map(([la, lo]) => `${X(lo).toFixed(1)},${Y(la).toFixed(1)}`).join(" "),
        style: areaStyle }, h("svg:title", {}, a.description)));
    }
    for (const c of a.circles) {
      shapes.push(h("svg:circle", { class: "warning-area", "data-testid": "warning-circle", cx: X(c.longitude),
        cy: Y(c.latitude), r: (c.radius_km / 111.32) * s, style: areaStyle },
      h("svg:title", {}, a.description)));
    }
  }
  // A name is written under a dot unless it would cover another's name or dot (its title still names it).
  const placed = [];
  const named = (x, y, text) => {
    const w2 = Math.min(110, text.length * 3.4), box = [x - w2, y + 16, x + w2, y + 32];
    const clash = placed.some((b) => box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3])
      || [...sites.values()].some((o) => Math.abs(X(o.lon) - x) < w2 + 11 && Y(o.lat) - 11 < box[3] && Y(o.lat) + 11 > box[1]
        && (X(o.lon) !== x || Y(o.lat) !== y));
    if (!clash) placed.push(box);
    return !clash;
  };
  const markers = [...sites.values()].map((site) => {
    const worst = siteReach(site.ids.map((id) => outcome[id] || "pending"));
    const place = villageOf[site.ids[0]];
    const label = `${place ? place.name : site.name}: ${site.ids.map((id) => `${id} ${word("reachOutcome",
      outcome[id] || "pending")}`).join(", ")}`;
    const shown = named(X(site.lon), Y(site.lat), place ? place.name : site.name);
    return h("svg:g", { "data-map-site": site.name, "data-reach": worst, role: "img", "aria-label": label },
      h("svg:title", {}, label),
      h("svg:circle", { cx: X(site.lon), cy: Y(site.lat), r: 11, class: `reach-fill-${worst}`, stroke: "#fff",
        "stroke-width": 2 }),
      h("svg:text", { x: X(site.lon), y: Y(site.lat) + 4, "text-anchor": "middle", class: "marker-count" },
        site.ids.length),
      shown ? h("svg:text", { x: X(site.lon), y: Y(site.lat) + 28, "text-anchor": "middle",
        class: "marker-label" }, place ? place.name : site.name) : null);
  });
  return h("svg:svg", { viewBox: `0 0 ${W} ${H}`, class: "map warning-map", "data-testid": "warning-map", role: "group",
    "aria-label": t("warningMap") }, shapes, markers);
}

const legend = (play) => h("p", { class: "legend", "aria-label": t("legend") },
  ["played", "playing", "partial", "missed", "pending", play.places.some((p) => !p.tally.sent) ? "none" : null]
    .filter(Boolean).map((o) => h("span", {}, h("i", { class: `swatch reach-bg-${o}` }),
    word("villageReach", o))));

function villagesTable(play) {
  const rows = play.places.filter((p) => p.targeted || p.tally.sent);
  return table([
    { label: t("village"), cell: (p) => h("span", {}, h("i", { class: `swatch reach-bg-${villageReach(p)}` }), " ",
      p.level === "village" ? p.name : `${p.name} (${t("communeLevel")})`) },
    { label: t("reachPlayed"), cell: (p) => `${p.tally.played}/${p.tally.sent}` },
    { label: t("reachPlaying"), cell: (p) => String(p.tally.playing) },
    { label: t("reachInterrupted"), cell: (p) => String(p.tally.interrupted) },
    { label: t("reachMissed"), cell: (p) => String(p.tally.missed) },
    { label: t("reachPending"), cell: (p) => String(p.tally.pending) },
    { label: t("reason"), cell: (p) => Object.entries(p.tally.reasons || {}).map(([r, n]) => `${word("reason", r)} (${n})`)
      .join(", ") || "—" },
  ], rows, { testid: "warning-villages", rowAttrs: (p) => ({ "data-village": p.id, "data-reach": villageReach(p) }) });
}

function speakersList(play) {
  return h("details", { class: "panel" }, h("summary", {}, t("reachBySpeaker")),
    table([
      { label: t("speaker"), cell: (s) => s.id },
      { label: t("village"), cell: (s) => s.place },
      { label: t("outcome"), cell: (s) => word("reachOutcome", s.outcome) },
      { label: t("reason"), cell: (s) => (s.reason ? word("reason", s.reason) : "—") },
      { label: t("reachDelay"), cell: (s) => (s.delay_from_receipt != null
        ? t("seconds", { s: fmtNumber(s.delay_from_receipt, 0) }) : "—") },
    ], play.places.flatMap((p) => p.speakers.map((s) => ({ ...s, place: p.name }))),
    { testid: "warning-speakers", rowAttrs: (s) => ({ "data-speaker": s.id, "data-outcome": s.outcome }) }));
}

function facts(w) {
  const dl = (pairs) => h("dl", { class: "facts" }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  return dl([
    [t("state"), stateWord(w)],
    [t("warningEvent"), w.event],
    [t("levelTT39"), word("level", w.level)],
    [t("received"), fmtTime(w.received_at)],
    [t("expires"), w.expires_at ? fmtTime(w.expires_at) : null],
    [t("warningSender"), w.sender],
    [t("repeatEvery"), w.repeat_minutes ? t("everyMinutes", { n: w.repeat_minutes }) : null],
    [t("nextRepeats"), w.next_repeats.length ? w.next_repeats.slice(0, 6).map(fmtClock).join(", ") : null],
    [t("replacedBy"), w.replaced_by
      ? h("a", { href: `#/warnings/${w.replaced_by}` }, t("openWarning", { id: w.replaced_by })) : null],
    [t("cancelledBy"), w.cancelled_by],
    [t("warningTargets"), `${w.communes.map((c) => c.name).join(", ") || "—"} · ${t("warningVillagesN", {
      n: w.villages.length })} · ${t("warningSpeakersOnline", { on: w.speakers_online, n: w.speakers.length })}`],
  ]);
}

/** Update and Cancel, for an approver, while the warning is in force. */
function actions(w, out, after) {
  if (!can("approve") || w.state !== "active" || w.msg_type === "Cancel") return null;
  // An alert reaching communes beyond the person's is for someone over all of them (the province) to change.
  if (w.reaches_other_communes) {
    return h("p", { class: "muted", "data-testid": "warning-other-communes" }, t("warningOtherCommunes"));
  }
  // What is said now, ready to be changed (a field left as it is stays as it was).
  const hl = h("textarea", { rows: 2, maxlength: 200, "data-testid": "update-headline" });
  hl.value = w.headline || "";
  const desc = h("textarea", { rows: 4, maxlength: 4000, "data-testid": "update-description" });
  desc.value = w.description || "";
  const instr = h("textarea", { rows: 3, maxlength: 2000, "data-testid": "update-instruction" });
  instr.value = w.instruction || "";
  const until = h("input", { type: "datetime-local", "data-testid": "update-expires" });
  const why = h("input", { type: "text", maxlength: 500, "data-testid": "update-reason" });
  const update = async (e) => {
    e.preventDefault();
    const body = {};
    if (hl.value.trim() && hl.value.trim() !== (w.headline || "")) body.headline = hl.value.trim();
    if (desc.value.trim() && desc.value.trim() !== (w.description || "")) body.description = desc.value.trim();
    if (instr.value.trim() && instr.value.trim() !== (w.instruction || "")) body.instruction = instr.value.trim();
    if (until.value) body.expires = `${until.value.length === 16 ? `${until.value}:00` : until.value}+07:00`;
    if (why.value.trim()) body.reason = why.value.trim();
    if (!ask(t("confirmWarningUpdate"))) return;
    const done = await attempt(out, () => api(`/api/v1/warnings/${w.id}/update`, { method: "POST", body }));
    if (done) { out.replaceChildren(okBox(t("warningUpdated"))); location.hash = `#/warnings/${done.id}`; }
  };
  const cancel = async () => {
    if (!ask(t("confirmWarningCancel"))) return;
    const body = why.value.trim() ? { reason: why.value.trim() } : {};
    const done = await attempt(out, () => api(`/api/v1/warnings/${w.id}/cancel`, { method: "POST", body }));
    if (done) { out.replaceChildren(okBox(t("warningCancelled"), { "data-testid": "warning-cancelled" })); after(); }
  };
  return h("section", { class: "panel", "data-testid": "warning-actions" }, h("h2", {}, t("warningActions")),
    h("form", { onsubmit: update },
      field(t("warningHeadline"), hl), field(t("warningDescription"), desc, t("warningDescriptionHint")),
      field(t("warningInstruction"), instr), field(t("expires"), until, t("expiresHint")), field(t("reasonOptional"), why),
      h("div", { class: "row" },
        h("button", { type: "submit", class: "primary", "data-testid": "warning-update" }, t("warningUpdate")),
        h("button", { type: "button", class: "danger", onclick: cancel, "data-testid": "warning-cancel" },
          t("warningCancel")))));
}

async function warningPage(id) {
  // What is redrawn live, and the approver's form below it, kept while the warning stays in force so that
  // what is being typed (and the focus) survives a redraw.
  const liveBox = h("div");
  const formBox = h("div");
  const holder = h("div", { "data-testid": "warning", "data-warning": id }, liveBox, formBox);
  const out = h("div", { role: "status" });
  const view = { play: null, speakersOpen: false, formFor: null };  // the play shown (null: the latest)
  const draw = async () => {
    let w, reach, devices;
    try {
      [w, reach, devices] = await Promise.all([api(`/api/v1/warnings/${id}`),
        api(`/api/v1/warnings/${id}/reach`).catch(() => ({ plays: [] })), api("/api/v1/devices")]);
    } catch (e) { showError(liveBox, e); return; }
    document.title = `${headline(w)} — WardFleet`;
    const plays = reach.plays || [];
    const play = plays.find((p) => p.item === view.play) || plays[plays.length - 1] || null;
    const choose = (e) => { view.play = e.target.value; draw(); };
    const pick = plays.length > 1 ? h("select", { "data-testid": "warning-play", onchange: choose },
      plays.map((p) => h("option", { value: p.item, selected: p === play },
      `${playName(p)} · ${fmtTime(p.due_at)}`)))
      : null;
    const speakers = play ? speakersList(play) : null;
    if (speakers) {
      speakers.open = view.speakersOpen;
      speakers.addEventListener("toggle", () => { view.speakersOpen = speakers.open; });
    }
    liveBox.replaceChildren(...nodes([
      // In its colour while in force; greyed once ended, its state said first.
      h("div", { class: `warning-banner${w.state === "active" ? "" : " ended"}`, "data-risk": w.risk_level || "",
        style: w.risk_colour && w.state === "active" ? `background:${w.risk_colour};color:${w.risk_text_colour}` : null },
      w.state === "active" ? null : h("p", { class: "banner-state" }, stateWord(w)),
      h("strong", {}, w.risk_level ? `${t("riskLevel", { n: w.risk_level })} · ${word("riskColour",
        String(w.risk_level))}` : t("riskNone")),
      w.drill ? h("span", { class: "badge drill" }, t("drill")) : null,
      h("p", { "data-testid": "warning-headline" }, headline(w))),
      w.description || w.instruction ? h("div", { class: "panel", "data-testid": "warning-words" },
        h("h2", {}, t("warningSaid")), w.description ? h("p", {}, w.description) : null,
        w.instruction ? h("p", {}, h("strong", {}, `${t("warningInstruction")}: `), w.instruction) : null) : null,
      facts(w),
      w.cannot_be_targeted.length ? h("div", { class: "error", "data-testid": "warning-untargetable" },
        h("strong", {}, t("cannotBeTargeted")), h("ul", {}, w.cannot_be_targeted.map((u) =>
          h("li", {}, `${u.name}: ${word("untargetable", u.reason)}`)))) : null,
      h("h2", {}, t("warningReach")),
      play ? [field(t("warningPlayShown"), pick || h("output", {}, playName(play))), legend(play),
        areaMap(w, play, devices), villagesTable(play), speakers,
        h("p", { class: "muted", "data-testid": "warning-tally" }, t("reachSummary", {
          played: play.tally.played, playing: play.tally.playing, sent: play.tally.sent, missed: play.tally.missed,
          interrupted: play.tally.interrupted, pending: play.tally.pending }))]
        : [h("p", { class: "muted" }, w.state === "recorded" ? t("warningNotOnAir") : t("warningNoPlays")),
          areaMap(w, null, devices)],
      h("p", {}, h("a", { href: `/api/v1/warnings/${id}/reach?format=html`, target: "_blank", rel: "noopener",
        "data-testid": "warning-print" }, t("warningPrint"))),
    ]));
    const formFor = `${w.id}/${w.state}`;
    if (view.formFor !== formFor) {
      view.formFor = formFor;
      formBox.replaceChildren(...nodes([actions(w, out, draw), out]));
    }
  };
  page(t("warning"), holder);
  await draw();
  keepFresh(draw);
}
