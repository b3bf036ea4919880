// WardFleet console: the shell. Signs in, draws the menu for the person's role, sends each
// address (#/page/…) to its page module, and keeps the live event stream open.
import { S, $, h, api, page, errorBox, toast } from "./lib/core.js";
import { t, word, lang, setLang } from "./lib/i18n.js";
import { loginPage } from "./pages/login.js";
import { live, resetLive } from "./lib/live.js";

// A page's module is fetched when it is first opened (the sign-in page needs none of them), and
// fetched in the background once someone has signed in, so later taps find it at hand.
const lazy = (file, name) => async (...a) => (await import(`./pages/${file}.js`))[name](...a);
// [address, permission needed, page]
const PAGES = [
  ["attention", "manage_devices", lazy("attention", "attentionPage")], ["overview", "view", lazy("overview",
    "overviewPage")],
  ["warnings", "view", lazy("warnings", "warningsPage")],
  ["devices", "view", lazy("devices", "devicesPage")], ["broadcasts", "view", lazy("broadcasts", "broadcastsPage")],
  ["alarms", "view", lazy("alarms", "alarmsPage")], ["map", "view", lazy("map", "mapPage")],
  ["pending", "view", lazy("pending", "pendingPage")], ["firmware", "view", lazy("firmware", "firmwarePage")],
  ["kpi", "view", lazy("kpi", "kpiPage")],
  ["places", "view", lazy("places", "placesPage")], ["settings", "configure", lazy("settings", "settingsPage")],
  ["users", "manage_users", lazy("users", "usersPage")], ["audit", "view_audit", lazy("audit", "auditPage")],
  ["account", "view", lazy("account", "accountPage")],
];
const devicePage = lazy("device", "devicePage");
const prefetch = () => ["attention", "overview", "devices", "device", "broadcasts", "alarms", "map", "kpi"]
  .forEach((f) => import(`./pages/${f}.js`).catch(() => { /* fetched again when opened */ }));

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
function closeMenu() { document.body.classList.remove("menu-open"); $("#menu-toggle").setAttribute("aria-expanded",
  "false"); }
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
  $("#live").setAttribute("aria-label", $("#live").title);
  $("#skip").textContent = t("skip");
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
    setTimeout(prefetch, 500);
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

// After a navigation the keyboard starts on the new page's heading, not back at the top of the document.
window.addEventListener("hashchange", async () => {
  closeMenu();
  const focused = document.activeElement && document.activeElement.closest("nav");
  await route();
  if (focused) { const h1 = $("#main h1"); if (h1) h1.focus({ preventScroll: true }); }
});
window.addEventListener("unhandledrejection", (e) => { toast(e.reason &&
  e.reason.message ? e.reason.message : t("error")); });
document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeMenu(); });

$("#lang").addEventListener("click", () => { setLang(lang.current === "vi" ? "en" : "vi"); route(); });
$("#logout").addEventListener("click", signOut);
$("#menu-toggle").addEventListener("click", toggleMenu);
await start();
if (S.me && (!location.hash || location.hash === "#/login")) location.replace(`#/${home()}`);
route();
