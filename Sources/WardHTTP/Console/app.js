// WardFleet console: the shell. Signs in, draws the menu for the person's role, sends each
// address (#/page/…) to its page module, and keeps the live event stream open.
import { S, $, h, api, page, errorBox, toast } from "./lib/core.js";
import { t, word, lang, setLang } from "./lib/i18n.js";
import { loginPage } from "./pages/login.js";
import { attentionPage } from "./pages/attention.js";
import { overviewPage } from "./pages/overview.js";
import { devicesPage } from "./pages/devices.js";
import { devicePage } from "./pages/device.js";
import { mapPage } from "./pages/map.js";
import { pendingPage } from "./pages/pending.js";
import { broadcastsPage } from "./pages/broadcasts.js";
import { alarmsPage } from "./pages/alarms.js";
import { kpiPage } from "./pages/kpi.js";
import { placesPage } from "./pages/places.js";
import { settingsPage } from "./pages/settings.js";
import { usersPage } from "./pages/users.js";
import { auditPage } from "./pages/audit.js";
import { accountPage } from "./pages/account.js";
import { live, resetLive } from "./lib/live.js";

// [address, permission needed, page, who sees it in the menu (null: everyone with the permission)]
const PAGES = [
  ["attention", "manage_devices", attentionPage], ["overview", "view", overviewPage], ["devices", "view", devicesPage],
  ["broadcasts", "view", broadcastsPage], ["alarms", "view", alarmsPage], ["map", "view", mapPage],
  ["pending", "view", pendingPage], ["kpi", "view", kpiPage], ["places", "view", placesPage],
  ["settings", "configure", settingsPage], ["users", "manage_users", usersPage], ["audit", "view_audit", auditPage],
  ["account", "view", accountPage],
];

const allowed = () => PAGES.filter(([, p]) => S.me.permissions.includes(p));
/** Technicians and admins land on what is broken; the others on the overview. */
const home = () => (S.me.permissions.includes("manage_devices") ? "attention" : "overview");

function drawNav() {
  const current = location.hash.slice(2).split(/[/?]/)[0] || home();
  $("#nav").replaceChildren(...allowed().map(([id]) => h("a", {
    href: `#/${id}`, class: current === id ? "active" : null, "aria-current": current === id ? "page" : null,
    "data-nav": id, onclick: closeMenu,
  }, t(id))));
}

// On a phone the menu is a drop-down: it opens from the ☰ button and closes after a tap.
function closeMenu() { document.body.classList.remove("menu-open"); $("#menu-toggle").setAttribute("aria-expanded", "false"); }
function toggleMenu() {
  const open = document.body.classList.toggle("menu-open");
  $("#menu-toggle").setAttribute("aria-expanded", String(open));
}

function drawHeader() {
  document.documentElement.lang = lang.current;
  $("#lang").textContent = t("langName");
  $("#lang").setAttribute("aria-label", t("switchLang"));
  $("#logout").textContent = t("logout");
  $("#menu-toggle").setAttribute("aria-label", t("menu"));
  $("#who").textContent = S.me ? `${S.me.display_name} · ${word("role", S.me.role)}` : "";
  $("#live").title = $("#live").classList.contains("on") ? t("liveOn") : t("liveOff");
}

// Navigations started and the newest one drawn: a slow page must not draw over a newer one.
const routes = { started: 0, drawn: 0 };

export async function route() {
  drawHeader();
  if (!S.me) { $("#nav").replaceChildren(); return loginPage(start); }
  drawNav();
  const [name, ...rest] = location.hash.slice(2).split("?")[0].split("/");
  const found = allowed().find(([id]) => id === name);
  const mine = ++routes.started;
  resetLive();
  try {
    if (name === "device" && rest[0]) await devicePage(decodeURIComponent(rest[0]));
    else if (found) await found[2](rest.map(decodeURIComponent));
    else { location.replace(`#/${home()}`); return; }
  } catch (e) {
    if (mine === routes.started) page(t(name || home()), errorBox(e));
  }
  if (mine === routes.started) routes.drawn = mine;
  else if (routes.drawn === routes.started) route();
}

/** Reads who is signed in; starts the live stream. */
async function start() {
  try {
    const me = await api("/api/v1/me");
    S.me = { ...me, permissions: me.permissions.split(",") };
    $("#logout").hidden = false;
    live(route);
  } catch { S.me = null; }
}

async function signOut() {
  if (S.events) S.events.close();
  try { await api("/api/v1/logout", { method: "POST", body: {} }); } catch { /* already signed out */ }
  S.me = null; S.csrf = ""; sessionStorage.removeItem("wf-csrf");
  $("#logout").hidden = true; $("#live").classList.remove("on");
  location.hash = "#/login";
  route();
}

window.addEventListener("hashchange", () => { closeMenu(); route(); });
window.addEventListener("unhandledrejection", (e) => { toast(e.reason && e.reason.message ? e.reason.message : t("error")); });
document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeMenu(); });

$("#lang").addEventListener("click", () => { setLang(lang.current === "vi" ? "en" : "vi"); route(); });
$("#logout").addEventListener("click", signOut);
$("#menu-toggle").addEventListener("click", toggleMenu);
await start();
if (S.me && (!location.hash || location.hash === "#/login")) location.replace(`#/${home()}`);
route();
