// The live event stream (/api/v1/events): device states, alarms and playback as they happen.
// Pages subscribe for as long as they are on screen; state badges anywhere update by themselves.
import { S, $, toast } from "./core.js";
import { t, word, fmtTime } from "./i18n.js";
import { stateBadge } from "./ui.js";
import { faultWords } from "./fleet.js";

const handlers = [];
// The page now open: its address without the filters in it.
const here = () => location.hash.split("?")[0];

/** Forgets the subscriptions of the page drawn before (the router calls it for each page it draws). */
export function resetLive() { handlers.length = 0; }

/** Calls fn(data) for each event of `type` while the page now open stays open. */
export function onLive(type, fn) {
  handlers.push({ type, fn, hash: here() });
}

function dispatch(type, data) {
  for (let i = handlers.length - 1; i >= 0; i--) {
    const x = handlers[i];
    if (x.hash !== here()) handlers.splice(i, 1);
    else if (x.type === type) x.fn(data);
  }
}

const each = (attr, id, fn) => document.querySelectorAll(`[${attr}="${CSS.escape(id)}"]`).forEach(fn);

export function live() {
  if (S.events) S.events.close();
  const es = new EventSource("/api/v1/events");
  S.events = es;
  const dot = $("#live");
  const mark = (on) => { dot.classList.toggle("on",
    on); dot.title = t(on ? "liveOn" : "liveOff"); dot.setAttribute("aria-label", dot.title); };
  es.addEventListener("ready", () => mark(true));
  es.addEventListener("device", (ev) => {
    const d = JSON.parse(ev.data);
    each("data-device-state", d.id, (el) => el.replaceWith(stateBadge(d.state, d.id)));
    each("data-device-since", d.id, (el) => { el.textContent = fmtTime(d.since); });
    each("data-device-faults", d.id, (el) => { el.textContent = faultWords(d.reasons); });
    if (d.state === "offline") toast(`${d.id}: ${word("state", "offline")}`);
    dispatch("device", d);
  });
  es.addEventListener("alarm", (ev) => {
    const a = JSON.parse(ev.data);
    const where = a.device_id || a.village_id || "";
    if (!a.cleared_at) toast(`${word("severity", a.severity)}: ${word("alarm", a.kind)} — ${where}`);
    dispatch("alarm", a);
  });
  es.addEventListener("playback", (ev) => dispatch("playback", JSON.parse(ev.data || "{}")));
  es.addEventListener("firmware", (ev) => dispatch("firmware", JSON.parse(ev.data || "{}")));
  es.onerror = () => mark(false);
}
