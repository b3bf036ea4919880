// Firmware: update campaigns with their progress per wave (live), creating one with a preview of how many
// devices it reaches, and the image library. A campaign's own page: waves, failures, approve/pause/abort.
import { S, h, api, page, can, upload, errorBox, okBox, ask, showError } from "../lib/core.js";
import { t, word, fmtTime, fmtNumber } from "../lib/i18n.js";
import { table, field, select } from "../lib/ui.js";
import { onLive } from "../lib/live.js";

const enc = encodeURIComponent;
const ORDER = ["queued", "notified", "downloading", "verifying", "installing", "rebooting", "succeeded", "failed",
  "rolled_back", "cancelled", "skipped"];
const OVER = ["completed", "aborted", "cancelled"];

export const campaignBadge = (state) => h("span", { class: `cstate cstate-${state}`, "data-campaign-state": state },
  word("campaignState", state));

/** "đang tải 3 · thành công 20": the states a group of devices is in, in their order. */
export function countWords(counts) {
  const parts = ORDER.filter((s) => counts[s]).map((s) => `${word("jobState", s)} ${fmtNumber(counts[s], 0)}`);
  return parts.length ? parts.join(" · ") : t("none");
}

/** A bar of done (green) and failed (red) out of all. */
function bar(done, failed, total) {
  const pct = (n) => (total ? Math.min(100, (n * 100) / total) : 0);
  return h("div", { class: "fw-bar", role: "img", "aria-label": t("fwBarLabel", { done, failed, total }) },
    h("span", { class: "fw-done", style: `width:${pct(done)}%` }),
    h("span", { class: "fw-failed", style: `width:${pct(failed)}%` }));
}

/** Debounced: a running campaign sends an event every second, per commune. */
function debounce(fn, ms = 700) {
  let timer = null;
  return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
}

function campaignTable(list) {
  return table([
    { label: t("fwCampaign"), cell: (c) => h("a", { href: `#/firmware/campaign/${c.id}`, "data-raw": "" },
      `#${c.id} ${c.name}`) },
    { label: t("fwVersion"), cell: (c) => [`${word("cls", c.device_class)} `,
      h("span", { "data-raw": "" }, `${c.model} → ${c.version}`)] },
    { label: t("state"), cell: (c) => campaignBadge(c.state) },
    { label: t("fwProgress"), cell: (c) => [bar(c.counts.succeeded || 0, c.failures, c.devices),
      h("span", { class: "muted" }, t("fwDoneOf", { done: fmtNumber(c.counts.succeeded || 0, 0),
        total: fmtNumber(c.devices, 0), failed: fmtNumber(c.failures, 0) }))] },
    { label: t("fwCreated"), cell: (c) => `${fmtTime(c.created_at)}${c.created_by ? ` · ${c.created_by}` : ""}`,
      class: "muted" },
  ], list, { testid: "campaigns", empty: t("fwNoCampaigns") });
}

function imageTable(images) {
  return table([
    { label: t("cls"), cell: (i) => word("cls", i.device_class) },
    { label: t("model"), cell: (i) => h("span", { "data-raw": "" }, i.model) },
    { label: t("fwVersion"), cell: (i) => h("strong", { "data-raw": "" }, i.version) },
    { label: t("fwSize"), cell: (i) => t("fwKiB", { n: fmtNumber(i.size / 1024, 1) }) },
    { label: t("fwUploaded"), cell: (i) => `${fmtTime(i.uploaded_at)}${i.uploaded_by ? ` · ${i.uploaded_by}` : ""}` },
    { label: t("fwNotes"), cell: (i) => i.notes || "—", class: "muted" },
    { label: t("fwKey"), cell: (i) => h("code", { "data-raw": "" }, i.key_fingerprint), class: "muted" },
  ], images, { testid: "firmware-images", empty: t("fwNoImages") });
}

const CLASSES = ["speaker", "camera", "access_point", "kiosk"];

function uploadForm(onDone) {
  const out = h("div", { role: "status" });
  const file = h("input", { type: "file", required: true });
  const cls = select(CLASSES.map((c) => [c, word("cls", c)]), "speaker");
  const model = h("input", { type: "text", required: true, maxlength: 64, autocomplete: "off" });
  const version = h("input", { type: "text", required: true, maxlength: 64, autocomplete: "off" });
  const notes = h("input", { type: "text", maxlength: 2000 });
  const send = async (ev) => {
    ev.preventDefault();
    if (!file.files.length) { showError(out, new Error(t("fwChooseFile"))); return; }
    const q = new URLSearchParams({ class: cls.value, model: model.value.trim(), version: version.value.trim() });
    if (notes.value.trim()) q.set("notes", notes.value.trim());
    out.replaceChildren(h("p", { class: "muted" }, t("loading")));
    try {
      const i = await upload(`/api/v1/firmware/images?${q}`, file.files[0], "application/octet-stream");
      out.replaceChildren(okBox(t("fwUploadedOk", { model: i.model, version: i.version })));
      onDone();
    } catch (e) { showError(out, e); }
  };
  return h("form", { class: "panel", "data-testid": "firmware-upload", onsubmit: send },
    h("h2", {}, t("fwUpload")),
    field(t("fwFile"), file),
    h("div", { class: "row" }, field(t("cls"), cls), field(t("model"), model), field(t("fwVersion"), version)),
    field(t("fwNotes"), notes),
    h("button", { class: "primary", type: "submit" }, t("fwUploadButton")), out);
}

/** The create form: the target, waves and pacing; the number of devices reached is shown before creating. */
function createForm(images, places) {
  const out = h("div", { role: "status" });
  const preview = h("p", { class: "fw-preview", "data-testid": "campaign-preview", "aria-live": "polite" },
    t("fwPreviewHint"));
  // Its options name models and versions as the devices report them: data, not the console's words.
  const imageChoice = select([["", `— ${t("fwChooseImage")} —`],
    ...images.map((i) => [i.sha256, `${word("cls", i.device_class)} ${i.model} ${i.version}`])], "", { "data-raw": "" });
  const communes = places.filter((p) => p.level === "commune");
  const commune = select([["", t("fwAllCommunes")], ...communes.map((c) => [c.id, c.name])], "");
  const name = h("input", { type: "text", maxlength: 200 });
  const current = h("input", { type: "text", placeholder: "1.0.0", autocomplete: "off" });
  const waves = h("input", { type: "text", value: "1%,10%,rest", autocomplete: "off" });
  const rate = h("input", { type: "number", min: 1, max: 100000, value: 60, inputmode: "numeric" });
  const windowInput = h("input", { type: "text", placeholder: "22:00-05:00", autocomplete: "off" });
  const maxFail = h("input", { type: "number", min: 0, max: 100, step: "any", value: 10, inputmode: "decimal" });
  const minDone = h("input", { type: "number", min: 1, value: 10, inputmode: "numeric" });
  const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
  const target = () => {
    const img = images.find((i) => i.sha256 === imageChoice.value);
    if (!img) return null;
    const b = { class: img.device_class, model: img.model, waves: waves.value.trim() || "1%,10%,rest" };
    if (commune.value) b.communes = [commune.value];
    if (list(current.value).length) b.current_firmware = list(current.value);
    return { body: b, img };
  };
  let counted = null;
  const refresh = async () => {
    counted = null;
    const x = target();
    if (!x) { preview.replaceChildren(t("fwPreviewHint")); return; }
    try {
      const p = await api("/api/v1/firmware/preview", { method: "POST", body: x.body });
      counted = p.devices;
      preview.replaceChildren(h("strong", {}, t("fwPreviewCount", { n: fmtNumber(p.devices, 0) })),
        p.waves.length ? ` — ${p.waves.map((n, i) => t("fwWaveN", { n: i + 1, d: fmtNumber(n, 0) })).join(", ")}`
          : "");
    } catch (e) { preview.replaceChildren(errorBox(e)); }
  };
  const later = debounce(refresh, 400);
  for (const el of [imageChoice, commune, current, waves]) { el.addEventListener("change", later);
    el.addEventListener("input", later); }
  const create = async (ev) => {
    ev.preventDefault();
    const x = target();
    if (!x) { showError(out, new Error(t("fwChooseImage"))); return; }
    await refresh();
    if (counted === null) return;
    if (!ask(t("fwConfirmCreate", { n: counted, version: x.img.version }))) return;
    const body = { ...x.body, image: x.img.sha256, rate_per_minute: Number(rate.value),
      max_failures_percent: Number(maxFail.value), min_finished: Number(minDone.value) };
    if (name.value.trim()) body.name = name.value.trim();
    if (windowInput.value.trim()) body.window = windowInput.value.trim();
    try {
      const c = await api("/api/v1/firmware/campaigns", { method: "POST", body });
      location.hash = `#/firmware/campaign/${c.id}`;
    } catch (e) { showError(out, e); }
  };
  return h("form", { class: "panel", "data-testid": "campaign-create", onsubmit: create },
    h("h2", {}, t("fwCreate")),
    images.length ? null : h("p", { class: "muted" }, t("fwNoImages")),
    h("div", { class: "row" }, field(t("fwImage"), imageChoice), field(t("commune"), commune)),
    h("div", { class: "row" }, field(t("fwName"), name), field(t("fwCurrent"), current, t("fwCurrentHint"))),
    h("div", { class: "row" }, field(t("fwWaves"), waves, t("fwWavesHint")), field(t("fwRate"), rate),
      field(t("fwWindow"), windowInput, t("fwWindowHint"))),
    h("div", { class: "row" }, field(t("fwMaxFail"), maxFail), field(t("fwMinDone"), minDone)),
    preview,
    h("button", { class: "primary", type: "submit" }, t("fwCreateButton")), out);
}

async function listPage() {
  const [campaigns, images, places] = await Promise.all([api("/api/v1/firmware/campaigns"),
    api("/api/v1/firmware/images"), api("/api/v1/places")]);
  const list = h("section", { class: "panel" }, h("h2", {}, t("fwCampaigns")), campaignTable(campaigns));
  const library = h("section", { class: "panel" }, h("h2", {}, t("fwLibrary")), imageTable(images));
  const reload = async () => {
    try { list.replaceChildren(h("h2", {}, t("fwCampaigns")), campaignTable(await api("/api/v1/firmware/campaigns"))); }
    catch { /* the next event tries again */ }
  };
  const reloadImages = async () => {
    try { library.replaceChildren(h("h2", {}, t("fwLibrary")), imageTable(await api("/api/v1/firmware/images"))); }
    catch { /* shown on the next visit */ }
  };
  page(t("firmware"), list,
    can("manage_devices") ? createForm(images, places) : null,
    library,
    can("configure") && !(S.me && S.me.communes) ? uploadForm(reloadImages) : null);
  onLive("firmware", debounce(reload));
}

function waveTable(c) {
  return table([
    { label: t("fwWave"), cell: (w) => [t("fwWaveNumber", { n: w.number }),
      w.aborted ? h("strong", { class: "miss", "data-testid": "wave-aborted" }, ` — ${t("fwWaveAborted")}`) : null,
      w.active ? h("span", { class: "pill" }, t("fwWaveActive")) : null] },
    { label: t("fwDevices"), cell: (w) => [bar(w.counts.succeeded || 0, w.failures, w.total),
      fmtNumber(w.total, 0)] },
    { label: t("state"), cell: (w) => countWords(w.counts) },
    { label: t("fwFailures"), cell: (w) => h("span", { class: w.failure_percent > w.max_failures_percent ? "miss" : null },
      t("fwFailureLine", { failed: fmtNumber(w.failures, 0), finished: fmtNumber(w.finished, 0),
        pct: fmtNumber(w.failure_percent, 1), max: fmtNumber(w.max_failures_percent, 1),
        min: fmtNumber(w.min_finished, 0) })) },
  ], c.progress || [], { testid: "campaign-waves", rowAttrs: (w) => ({ "data-wave": w.number }) });
}

function failureTable(c) {
  return table([
    { label: t("fwDevice"), cell: (j) => h("a", { href: `#/device/${enc(j.device)}` }, j.device) },
    { label: t("fwWave"), cell: (j) => t("fwWaveNumber", { n: j.wave }) },
    { label: t("state"), cell: (j) => word("jobState", j.state) },
    { label: t("reason"), cell: (j) => (j.reason ? word("jobFailure", j.reason) : "—") },
    { label: t("at"), cell: (j) => fmtTime(j.updated_at), class: "muted" },
  ], c.failed || [], { testid: "campaign-failures", empty: t("fwNoFailures") });
}

function stateNotice(c) {
  if (c.state === "aborted") {
    const w = (c.progress || []).find((x) => x.aborted);
    // A state of the campaign, not a failure of this page: shown in red, not announced as an error.
    return h("div", { class: "error", "data-testid": "campaign-aborted" },
      t("fwAbortedAt", { n: c.aborted_wave || "?" }),
      w ? ` ${t("fwAbortDetail", { failed: w.failures, finished: w.finished,
        max: fmtNumber(c.policy.max_failures_percent, 1) })}` : "");
  }
  if (c.state === "paused") {
    return h("div", { class: "banner-warning", "data-testid": "campaign-paused" }, t("fwPausedNote"));
  }
  if (c.state === "awaiting_approval") return h("div", { class: "banner-warning" }, t("fwAwaitingNote"));
  if (c.state === "cancelled") return h("div", { class: "banner-warning" }, t("fwCancelledNote"));
  return null;
}

function controls(c, out, after) {
  const act = async (verb, question) => {
    if (question && !ask(question)) return;
    try {
      await api(`/api/v1/firmware/campaigns/${c.id}/${verb}`, { method: "POST", body: {} });
      out.replaceChildren(okBox(t(`fwDone_${verb}`)));
      after();
    } catch (e) { showError(out, e); }
  };
  const over = OVER.includes(c.state);
  return h("div", { class: "row", "data-testid": "campaign-controls" },
    c.state === "awaiting_approval" && can("configure")
      ? h("button", { class: "primary", onclick: () => act("approve", t("fwConfirmApprove", { n: c.devices })) },
        t("fwApprove")) : null,
    c.state === "running" && can("manage_devices")
      ? h("button", { class: "plain", onclick: () => act("pause") }, t("fwPause")) : null,
    c.state === "paused" && can("manage_devices")
      ? h("button", { class: "plain", onclick: () => act("resume") }, t("fwResume")) : null,
    !over && can("manage_devices")
      ? h("button", { class: "danger", "data-testid": "campaign-abort",
        onclick: () => act("cancel", t("fwConfirmAbort", { name: c.name })) }, t("fwAbort")) : null);
}

function campaignBody(c, out, after) {
  const p = c.policy;
  const where = [c.target.communes && c.target.communes.join(", "), c.target.villages && c.target.villages.join(", "),
    c.target.devices && t("fwNDevices", { n: c.target.devices.length })].filter(Boolean).join(" · ");
  return [
    h("p", { class: "status-line" }, campaignBadge(c.state), " ", `${word("cls", c.device_class)} `,
      h("span", { "data-raw": "" }, `${c.model} → `), h("strong", { "data-raw": "" }, c.version)),
    stateNotice(c),
    c.partial ? h("p", { class: "muted" }, t("fwPartial")) : null,
    h("section", { class: "panel" }, h("h2", {}, t("fwProgress")),
      h("p", {}, bar(c.counts.succeeded || 0, c.failures, c.devices),
        t("fwDoneOf", { done: fmtNumber(c.counts.succeeded || 0, 0), total: fmtNumber(c.devices, 0),
          failed: fmtNumber(c.failures, 0) })),
      waveTable(c)),
    controls(c, out, after), out,
    h("section", { class: "panel" }, h("h2", {}, t("fwFailed")), failureTable(c)),
    h("section", { class: "panel" }, h("h2", {}, t("fwDetails")),
      h("ul", {},
        h("li", {}, t("fwTarget"), ": ", where || t("fwWholeFleet"),
          c.target.current_firmware ? ` · ${t("fwCurrent")}: ${c.target.current_firmware.join(", ")}` : ""),
        h("li", {}, t("fwWaves"), ": ", c.waves.map((w) => (w === "rest" ? t("fwRest") : w)).join(", ")),
        h("li", {}, t("fwPacing", { rate: p.rate_per_minute, window: p.window || t("fwAnyTime") })),
        h("li", {}, t("fwRule", { max: fmtNumber(p.max_failures_percent, 1), min: p.min_finished })),
        h("li", {}, t("fwCreatedBy", { at: fmtTime(c.created_at), who: c.created_by || "—" })),
        c.approved_at ? h("li", {}, t("fwApprovedBy", { at: fmtTime(c.approved_at), who: c.approved_by || "—" })) : null,
        c.ended_at ? h("li", {}, t("fwEnded", { at: fmtTime(c.ended_at) })) : null)),
  ];
}

async function campaignPage(id) {
  const c = await api(`/api/v1/firmware/campaigns/${enc(id)}`);
  const out = h("div", { role: "status" });
  const body = h("div", { "data-testid": "campaign" });
  const draw = (x) => body.replaceChildren(...campaignBody(x, out, reload).flat().filter(Boolean));
  async function reload() {
    try { draw(await api(`/api/v1/firmware/campaigns/${enc(id)}`)); } catch (e) { showError(out, e); }
  }
  draw(c);
  page(`${t("fwCampaign")} #${c.id}: ${c.name}`, h("p", {}, h("a", { href: "#/firmware" }, `← ${t("fwCampaigns")}`)),
    body);
  onLive("firmware", debounce(reload, 400));
}

export async function firmwarePage(rest = []) {
  if (rest[0] === "campaign" && rest[1]) return campaignPage(rest[1]);
  return listPage();
}

/** The device page's firmware history (newest campaign first, times in Asia/Ho_Chi_Minh). */
export function firmwareHistoryPanel(f) {
  return h("section", { class: "panel", "data-testid": "device-firmware" }, h("h2", {}, t("fwHistory")),
    h("p", { class: "muted" }, t("fwRunning", { reported: f.reported || t("notReported"),
      registered: f.registered || "—" })),
    table([
      { label: t("fwCampaign"), cell: (e) => h("a", { href: `#/firmware/campaign/${e.campaign}`, "data-raw": "" },
        `#${e.campaign} ${e.campaign_name || ""}`) },
      { label: t("fwVersion"),
        cell: (e) => h("span", { "data-raw": "" }, `${e.from_version || "?"} → ${e.version || "?"}`) },
      { label: t("state"), cell: (e) => h("span", { class: ["failed", "rolled_back"].includes(e.state) ? "miss" : null },
        word("jobState", e.state)) },
      { label: t("reason"), cell: (e) => (e.reason ? word("jobFailure", e.reason) : "—") },
      { label: t("at"), cell: (e) => fmtTime(e.updated_at), class: "muted" },
    ], f.history, { testid: "firmware-history", empty: t("fwNoHistory") }));
}

const FIELDS = ["heartbeat_s", "max_volume", "retention_days", "media_base_url", "ntp"];
const shown = (v) => (v === undefined || v === null ? null : Array.isArray(v) ? v.join(", ") : String(v));

/** The device page's configuration: desired against reported, each differing value marked. */
export function configPanel(c) {
  const has = (o, k) => !!o && o[k] !== undefined;
  const rows = FIELDS.filter((k) => has(c.desired, k) || has(c.reported, k));
  const differs = new Set(c.drift.fields || []);
  const status = c.drift.state === "pending"
    ? t("drift_pending", { v: c.version, a: c.drift.applied ?? "—" })
    : c.drift.state === "rejected" ? t("drift_rejected", { v: c.version }) : word("drift", c.drift.state);
  return h("section", { class: "panel", "data-testid": "device-config" }, h("h2", {}, t("configTitle")),
    h("p", { class: c.drift.drifting ? "miss" : "met", "data-testid": "config-drift", "data-drift": c.drift.state },
      c.drift.drifting ? `⚠ ${status}` : status,
      c.drift.detail ? h("span", { "data-raw": "" }, ` — ${c.drift.detail}`) : null),
    c.version ? h("p", { class: "muted" }, t("configVersion", { v: c.version, who: c.updated_by || "—",
      at: fmtTime(c.updated_at) })) : null,
    rows.length ? h("table", { class: "kv", "data-testid": "config-table" },
      h("thead", {}, h("tr", {}, h("td", {}), h("th", { scope: "col" }, t("configDesired")),
        h("th", { scope: "col" }, t("reported")))),
      h("tbody", {}, rows.map((k) => h("tr", { "data-config-field": k }, h("th", { scope: "row" }, word("configField", k)),
        h("td", { "data-label": t("configDesired"), "data-raw": "" }, shown(c.desired && c.desired[k]) ?? "—"),
        h("td", { "data-label": t("reported"), "data-raw": "" },
          shown(c.reported && c.reported[k]) ?? t("configNotReported"),
          differs.has(k) ? h("strong", { class: "miss", "data-testid": "config-differs" }, ` ⚠ ${t("configDiffers")}`)
            : null)))))
      : h("p", { class: "muted" }, t("configNone")),
    c.reported_at ? h("p", { class: "muted" }, t("configReportedAt", { at: fmtTime(c.reported_at) })) : null);
}

