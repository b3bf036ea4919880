// A new item: only the fields of the chosen source, repeat on chosen weekdays, villages or the
// whole commune, and a confirmation that stays on screen saying when, where and how often.
import { h, api, ask, upload, errorBox, okBox, attempt, showError } from "../lib/core.js";
import { t, word, fmtDay, fmtDuration, localDay } from "../lib/i18n.js";
import { field, select } from "../lib/ui.js";
import { startRecording } from "../lib/recorder.js";

// ISO weekdays as the API names them (Monday first), and their short names in the catalogue (Sunday = 0).
const WEEKDAYS = [["t2", 1], ["t3", 2], ["t4", 3], ["t5", 4], ["t6", 5], ["t7", 6], ["cn", 0]];

/** Where it plays, in names. */
export function targetWords(target, name) {
  const v = (target.villages || []).map((x) => name[x] || x);
  const c = (target.communes || []).map((x) => `${t("wholeCommune")}: ${name[x] || x}`);
  return [...v, ...c, ...(target.speakers || []), ...(target.groups || [])].join(", ") || "—";
}

/** How it repeats, in words ("Vào các ngày chọn: T2, T4"). */
export function repeatWords(rec) {
  const rule = Object.keys((rec && rec.rule) || { once: {} })[0];
  if (rule !== "weekly") return word("repeat", rule);
  const days = (rec.rule.weekly._0 || []).slice().sort();
  return `${word("repeat", "weekly")}: ${days.map((d) => word("weekdaysShortIso", d)).join(", ")}`;
}

/** The first day it really plays: its first day, or the first of its weekdays from then on. */
export function firstPlay(rec) {
  const rule = Object.keys((rec && rec.rule) || { once: {} })[0];
  const isoDays = rule === "weekdays" ? [1, 2, 3, 4, 5] : rule === "weekly" ? rec.rule.weekly._0 || [] : null;
  let day = new Date(`${rec.first_day}T12:00:00+07:00`);
  for (let i = 0; isoDays && i < 7 && !isoDays.includes(((day.getUTCDay() + 6) % 7) + 1); i++) {
    day = new Date(day.getTime() + 86400000);
  }
  return localDay(day);
}

/**
 * Recording from the microphone: record, listen back, record again. The recording enters the
 * library when saved here, or when the item is saved (`save()`), whichever comes first.
 */
function recorderBox(title) {
  const status = h("div", { role: "status" });
  const player = h("audio", { controls: true, hidden: true, "data-testid": "recording-player" });
  let rec = null, wav = null, saved = null, timer = null;
  const show = (...els) => [startBtn, stopBtn, saveBtn, player].forEach((el) => { el.hidden = !els.includes(el); });
  const start = async () => {
    try {
      rec = await startRecording();
      wav = null;
      saved = null;
      show(stopBtn);
      const tick = () => { status.textContent = t("recording",
        { d: fmtDuration((Date.now() - rec.started) / 1000) }); };
      timer = setInterval(tick, 500);
    } catch (e) { showError(status, new Error(t("noMicrophone", { e: e.message }))); }
  };
  const stop = async () => {
    clearInterval(timer);
    wav = await rec.stop();
    player.src = URL.createObjectURL(wav);
    startBtn.textContent = `● ${t("recordAgain")}`;
    show(startBtn, saveBtn, player);
    status.textContent = t("listenBack");
  };
  const save = async () => {
    if (saved) return saved;
    if (!wav) throw new Error(t("recordFirst"));
    const name = title() || t("record");
    saved = await upload(`/api/v1/media?file_name=ghi-am.wav&title=${encodeURIComponent(name)}`, wav, "audio/wav");
    status.replaceChildren(okBox(t("recordingSaved", { title: saved.title }), { "data-testid": "recording-saved" }));
    show(startBtn, player);
    return saved;
  };
  const startBtn = h("button", { type: "button", class: "primary", "data-testid": "record-start", onclick: start },
    `● ${t("startRecording")}`);
  const stopBtn = h("button", { type: "button", class: "danger", hidden: true, "data-testid": "record-stop",
    onclick: stop },
    `■ ${t("stopRecording")}`);
  const saveBtn = h("button", { type: "button", class: "primary", hidden: true, "data-testid": "record-save",
    onclick: () => attempt(status, save) }, t("saveRecording"));
  return { el: h("div", { class: "recorder" }, h("div", { class: "row" }, startBtn, stopBtn), player, saveBtn,
    status), save };
}

export function newItemView(c) {
  const tomorrow = localDay(Date.now() + 86400000), today = localDay(Date.now());
  const msg = h("div", { "data-testid": "schedule-result", role: "status" });
  const title = h("input", { id: "title", name: "title", required: true, maxlength: 200 });
  const text = h("textarea", { id: "text", name: "text", rows: 4, required: true, maxlength: 5000 });
  const voice = select(["northern", "central", "southern"].map((v) => [v, word("voice", v)]), "northern",
    { id: "voice" });
  const media = select(c.media.map((m) => [m.sha256, `${m.title} (${fmtDuration(m.duration)})`]), "", { id: "media" });
  const stream = h("input", { id: "stream", type: "url", placeholder: "https://", required: true });
  const minutes = h("input", { id: "minutes", type: "number", min: 1, max: 360, inputmode: "numeric", required: true });
  const file = h("input", { type: "file", accept: ".wav,.mp3,.ogg,audio/*" });
  const uploadMsg = h("div", { role: "status" });
  file.addEventListener("change", () => attempt(uploadMsg, async () => {
    const f = file.files[0];
    if (!f) return;
    const m = await upload(`/api/v1/media?file_name=${encodeURIComponent(f.name)}`
      + `&title=${encodeURIComponent(f.name.replace(/\.[^.]+$/, ""))}`, f);
    media.append(h("option", { value: m.sha256, selected: true }, `${m.title} (${fmtDuration(m.duration)})`));
    uploadMsg.replaceChildren(okBox(t("uploadDone", { title: m.title, d: fmtDuration(m.duration) })));
  }));
  const recorder = recorderBox(() => title.value.trim());
  const sources = {
    tts: [field(t("text"), text), field(t("voice"), voice)],
    media: [field(t("mediaFile"), media), field(t("upload"), file), uploadMsg],
    record: [recorder.el],
    stream: [field(t("stream"), stream), field(t("minutes"), minutes)],
  };
  const sourceBox = h("div", { class: "source-fields" });
  const showSource = (k) => { sourceBox.replaceChildren(...sources[k]); };
  const sourcePick = h("fieldset", { class: "segmented" }, h("legend", {}, t("source")),
    Object.keys(sources).map((k) => h("label", {}, h("input", { type: "radio", name: "source", value: k,
      checked: k === "tts",
      onchange: () => showSource(k) }), word("sourceKind", k))));
  showSource("tts");
  const day = h("input", { id: "day", name: "day", type: "date", required: true, value: tomorrow, min: today });
  const time = h("input", { id: "time", name: "time", type: "time", required: true, value: "06:00" });
  const onDays = h("fieldset", { class: "weekdays", hidden: true }, h("legend", {}, t("onDays")),
    WEEKDAYS.map(([code, js]) => h("label", {}, h("input", { type: "checkbox", name: "on", value: code }),
      word("weekdaysShortJs", js))));
  const repeat = select(["once", "daily", "weekdays", "weekly"].map((r) => [r, word("repeat", r)]), "once",
    { id: "repeat", name: "repeat", onchange: () => { onDays.hidden = repeat.value !== "weekly"; } });
  const level = select(["normal", "priority"].map((l) => [l, word("level", l)]), "normal", { id: "level" });
  const villages = h("fieldset", { class: "villages" }, h("legend", {}, t("villages")),
    h("p", { class: "muted hint" }, t("chooseVillagesOrCommune")),
    c.villages.map((v) => h("label", {}, h("input", { type: "checkbox", name: "village", value: v.id }), v.name)));
  const volume = h("input", { id: "volume", type: "number", min: 0, max: 100, inputmode: "numeric" });
  const form = h("form", { class: "panel", id: "schedule-form", onsubmit: async (ev) => {
    ev.preventDefault();
    const src = form.querySelector("input[name=source]:checked").value;
    const body = { title: title.value, level: level.value, day: day.value, time: time.value, repeat: repeat.value };
    if (src === "tts") Object.assign(body, { tts: text.value, voice: voice.value });
    else if (src === "media") body.media = media.value;
    else if (src !== "record") Object.assign(body, { stream: stream.value, minutes: Number(minutes.value) ||
      undefined });
    if (repeat.value === "weekly") body.on = [...onDays.querySelectorAll("input:checked")].map((x) => x.value);
    if (volume.value !== "") body.volume = Number(volume.value);
    const vs = [...villages.querySelectorAll("input:checked")].map((x) => x.value);
    if (vs.length) body.villages = vs; else body.communes = c.communes.map((x) => x.id);
    try {
      if (src === "record") body.media = (await recorder.save()).sha256;  // saved with the item if not yet
      if (body.level === "priority") {
        // A priority item cuts the normal ones it overlaps: name them before the officer confirms.
        const p = await api("/api/v1/broadcasts?dry_run=true", { method: "POST", body });
        if ((p.warnings || []).length && !ask(`${t("priorityCuts")}\n\n${p.warnings.join("\n")}`)) return;
      }
      const r = await api("/api/v1/broadcasts", { method: "POST", body });
      const when = `${fmtDay(firstPlay(r.item.recurrence))} ${t("at")} ${body.time}`;
      msg.replaceChildren(okBox([h("strong", {}, `${t("scheduled")}: `), t("confirmation", {
        title: r.item.title, when, where: targetWords(r.item.target, c.name), repeat: repeatWords(r.item.recurrence),
        status: word("status", r.status) }),
        // The server's words, in the console's language: a relay whose source does not answer now.
        ...(r.warnings || []).map((w) => h("p", { class: "warning", "data-testid": "schedule-warning" }, w))],
        { "data-testid": "schedule-confirmation" }));
      msg.scrollIntoView({ block: "center" });
    } catch (e) { showError(msg, e); }
  } },
  field(t("title"), title), sourcePick, sourceBox,
  h("div", { class: "row" }, field(t("day"), day), field(t("time"), time)),
  field(t("repeat"), repeat), onDays, villages,
  h("details", {}, h("summary", {}, `${t("level")}, ${t("volume")}`), field(t("level"), level),
    field(t("volumeOptional"), volume)),
  h("button", { class: "primary big", type: "submit", id: "schedule-submit" }, t("save")), msg);
  return form;
}
