// Shared pieces of every page: building elements, calling the API, the session, messages.
// Data is only ever put on the page as text (never as HTML), so names and titles stay inert.
import { t, word, lang } from "./i18n.js";

export const S = { me: null, csrf: sessionStorage.getItem("wf-csrf") || "", events: null };
export const $ = (sel) => document.querySelector(sel);

/** An element with attributes (on* are listeners) and children (nested lists; null/false left out). */
export function h(tag, attrs = {}, ...children) {
  const el = tag.startsWith("svg:") ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.setAttribute("class", v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  el.append(...nodes(children));
  return el;
}

export function nodes(children) {
  return children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : document.createTextNode(String(c))));
}

/** An API failure: the server's message in the chosen language, and its stable code. */
export class APIFailure extends Error {
  constructor(message, code, status) { super(message); this.code = code; this.status = status; }
}

async function send(path, init) {
  const r = await fetch(path, { credentials: "same-origin", ...init,
    headers: { "Accept-Language": lang.current, ...(init.headers || {}) } });
  if (r.status === 401 && !path.endsWith("/login")) {
    S.me = null;
    location.hash = "#/login";
    throw new APIFailure(t("login"), "unauthorized", 401);
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!r.ok) {
    const message = (data && data.error) || `${t("error")} ${r.status}`;
    throw new APIFailure(message, data && data.code, r.status);
  }
  return data;
}

/** JSON in, JSON out; changes carry the CSRF token. */
export function api(path, opts = {}) {
  const method = opts.method || "GET";
  const headers = { "Content-Type": "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = S.csrf;
  return send(path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
}

/** Bytes (a file or a recording) to an upload route. */
export function upload(path, blob, type) {
  return send(path, { method: "POST", body: blob,
    headers: { "Content-Type": type || blob.type || "application/octet-stream", "X-CSRF-Token": S.csrf } });
}

export const can = (p) => !!(S.me && S.me.permissions.includes(p));
export const hashQuery = () => new URLSearchParams(location.hash.split("?")[1] || "");

/** A short message that screen readers announce (the toast area is a live region). */
export function toast(msg) {
  const d = h("div", {}, msg);
  $("#toast").append(d);
  setTimeout(() => d.remove(), 6000);
}

export function page(title, ...content) {
  document.title = `${title} — WardFleet`;
  $("#main").replaceChildren(h("h1", { tabindex: "-1" }, title), ...nodes(content));
}

/** A server message in words: a leading request field ("tts: …") becomes the form's label. */
export function inWords(message) {
  return String(message).replace(/^([a-z_]+)(\[\d+\])?: /, (all, name) => {
    const label = word("param", name);
    return label === name.replace(/_/g, " ") ? all : `${label}: `;
  });
}

export const errorBox = (e) => h("div", { class: "error", role: "alert", "data-testid": "error" },
  inWords(e.message || String(e)));

/** Shows an error in `into` and brings it into view (on a phone it may be below the screen). */
export function showError(into, e) {
  into.replaceChildren(errorBox(e));
  into.scrollIntoView({ block: "center", behavior: "smooth" });
}
export const okBox = (msg, attrs = {}) => h("div", { class: "ok-msg", role: "status", ...attrs }, msg);

/** Runs an action, showing its error in `into` (an element) instead of throwing. */
export async function attempt(into, fn) {
  try { return await fn(); } catch (e) { showError(into, e); return undefined; }
}

/** A dialog that asks before something cannot be undone. */
export function ask(question) { return window.confirm(question); }

/** Draws the page now open again (after a change), through the router. */
export function redraw() { window.dispatchEvent(new HashChangeEvent("hashchange")); }

/** Draws the page again after a moment (so a message can be read), unless the person moved on. */
export function redrawSoon(ms) {
  const at = location.hash;
  setTimeout(() => { if (location.hash === at) redraw(); }, ms);
}
