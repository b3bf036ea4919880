"""Console crawl in a real headless Chromium (run by IntegrationTests/ConsoleCrawlTests, not by hand).

Opens every page the console offers each role, at a phone width and a laptop width, and checks what
must hold on any page, whatever the console's code looks like:
- no text such as "[object", "undefined", "NaN", "Infinity" or a bare "null" (shown text, form values,
  option labels, SVG titles, attribute values);
- no JavaScript error (hooks installed before the app runs, and the browser's SEVERE log);
- no page wider than the window (document.documentElement.scrollWidth > window.innerWidth);
- no error box (role=alert) on a page just opened, and some content;
- no machine code shown as text (snake_case words such as access_point, or enum values such as "major"
  or "technician" on a Vietnamese page): every code is put in words;
- at the phone width, every button, field, menu entry and tap-through line at least 44 px high;
- axe-core (axe-selenium-python's copy) finds no critical or serious accessibility violation, on every page
  in the first language at both widths;
- at the laptop width, the Tab key alone reaches every control shown on each page of the navigation.

Pages are not listed here. They are the hash links (`#/...`) the console's navigation offers the signed-in
role, plus the hash links found on those pages (detail pages such as a device's), followed once each.
What the crawl needs from the console: a sign-in form (input[autocomplete=username], input[type=password],
a submit button), navigation links a[href^="#/"] inside <nav>, page content inside <main>, a language switch
[data-testid=lang-toggle] that changes <html lang>.

Environment: WF_URL (server base), WF_SHOTS (screenshot directory, emptied first), WF_PASSWORD,
WF_USERS (JSON list of {"label", "user"}; the first is the one also crawled in the second language),
WF_EXPECT (JSON {label: {"pages": min number of pages, "details": min number of detail pages}}), and optionally
WF_CONTENT (JSON {label: {href: {"has": [texts], "lacks": [texts]}}}: what a page must and must not show in the
first language, at both widths; each such page must be reached).
Prints every failure and exits non-zero if there is any.
"""
import base64
import json
import os
import re
import shutil
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

URL, SHOTS, PASSWORD = os.environ["WF_URL"], os.environ["WF_SHOTS"], os.environ["WF_PASSWORD"]
USERS = json.loads(os.environ["WF_USERS"])
EXPECT = json.loads(os.environ.get("WF_EXPECT", "{}"))
CONTENT = json.loads(os.environ.get("WF_CONTENT", "{}"))
WIDTHS = [(390, 844), (1366, 900)]
# The same route kind (first path segment) is followed at most this often: a list of 500 devices
# needs a few of its detail pages opened, not all.
MAX_PER_KIND = 8

shutil.rmtree(SHOTS, ignore_errors=True)
os.makedirs(SHOTS, exist_ok=True)

opts = webdriver.ChromeOptions()
for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,900", "--lang=vi", "--hide-scrollbars"]:
    opts.add_argument(a)
opts.binary_location = "/usr/bin/chromium"
opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"), options=opts)
wait = WebDriverWait(driver, 30)

# Before any script of the page: errors and rejections are recorded, and fetches (with the reading of
# their bodies) are counted, so "the page has finished loading" is a condition, not a guess.
HOOKS = r"""
window.__wf = { errors: [], busy: 0 };
window.addEventListener("error", (e) => {
  const where = e.filename ? ` (${e.filename}:${e.lineno})` : (e.target && e.target !== window ? ` (${e.target.tagName} ${e.target.src || e.target.href || ""})` : "");
  window.__wf.errors.push(`error: ${e.message || "resource failed"}${where}`);
}, true);
window.addEventListener("unhandledrejection", (e) => {
  const r = e.reason;
  window.__wf.errors.push(`unhandled rejection: ${r && (r.stack || r.message) || r}`);
});
const count = (p) => { window.__wf.busy++; return p.finally(() => { window.__wf.busy--; }); };
const realFetch = window.fetch;
window.fetch = function (...a) { return count(realFetch.apply(this, a)); };
for (const m of ["text", "json", "blob", "arrayBuffer", "formData"]) {
  const real = Response.prototype[m];
  Response.prototype[m] = function (...a) { return count(real.apply(this, a)); };
}
"""
driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOOKS})

# Text that means a value went missing or an object was printed: "null" and the like only as words of
# their own ("nullnull" is two of them; "nullable" is none).
BAD = re.compile(r"\[object |\b(?:null|undefined|NaN|Infinity)+\b")
# A machine code on screen: snake_case, or an enum value left in English on a Vietnamese page.
CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")
RAW_VI = re.compile(r"\b(?:major|minor|technician|approver|viewer|operator|degraded|pending|approved|cultural|speaker|access point)\b")

import axe_selenium_python  # noqa: E402 - the venv's package; its copy of axe-core is injected into each page
with open(os.path.join(os.path.dirname(axe_selenium_python.__file__), "node_modules", "axe-core", "axe.min.js")) as f:
    AXE = f.read()
TOUCH = r"""
const small = [];
for (const el of document.querySelectorAll("header button, nav a, main button, main select, main textarea, main summary, " +
    "main input:not([type=checkbox]):not([type=radio]):not([type=hidden]), a.line, a.card, a.chip, a.badge-link, .tabs a")) {
  const r = el.getBoundingClientRect();
  if (el.offsetParent === null || r.width === 0) continue;
  if (r.height < 43.5) small.push(`${el.tagName.toLowerCase()} "${(el.innerText || el.getAttribute("aria-label") || el.name || "").trim().slice(0, 30)}" ${Math.round(r.height)} px`);
}
return small;
"""

INSPECT = r"""
const out = { texts: [], width: document.documentElement.scrollWidth, inner: window.innerWidth,
              alerts: [], main: (document.querySelector("main") || document.body).innerText.trim().length };
const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.getAttribute("name") ? `[name=${el.getAttribute("name")}]` : "");
out.texts.push(["page text", document.body.innerText]);
// What devices and people wrote (a model name, a message's detail) is data, not the console's words:
// left out of the check for machine codes.
const raw = [...document.querySelectorAll("[data-raw]")];
raw.forEach((el) => { el.dataset.wfDisplay = el.style.display; el.style.display = "none"; });
out.words = document.body.innerText;
raw.forEach((el) => { el.style.display = el.dataset.wfDisplay; delete el.dataset.wfDisplay; });
for (const el of document.querySelectorAll("input, textarea, select")) if (el.value) out.texts.push([`value of ${name(el)}`, el.value]);
for (const el of document.querySelectorAll("option, svg title")) out.texts.push([`${name(el)} text`, el.textContent]);
for (const el of document.querySelectorAll("*"))
  for (const a of el.attributes) if (a.value) out.texts.push([`${name(el)} @${a.name}`, a.value]);
for (const el of document.querySelectorAll("main [role=alert]")) if (el.offsetParent !== null) out.alerts.push(el.innerText);
return out;
"""

failures = []
shots = []
visited = {}


def fail(where, what):
    failures.append(f"{where}: {what}")
    print(f"FAIL {where}: {what}", file=sys.stderr, flush=True)


def settle():
    """Waits until no fetch is running or being read, then for two frames so layout is done."""
    wait.until(lambda d: d.execute_script("return window.__wf && window.__wf.busy === 0"))
    driver.execute_async_script("const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done()))")
    wait.until(lambda d: d.execute_script("return window.__wf.busy === 0"))


def go(href):
    """Opens a hash route without reloading and waits until the page has been drawn anew."""
    driver.execute_script("""
        const m = document.querySelector("main");
        window.__wfBefore = m ? m.innerText : "";
        if (m) for (const c of m.children) c.__wfStale = true;
        window.__wfHashSeen = location.hash === arguments[0];
        if (!window.__wfHashSeen) { window.addEventListener("hashchange", () => { window.__wfHashSeen = true; }, { once: true }); location.hash = arguments[0]; }
        else window.__wfRedrawn = true;
    """, href)
    wait.until(lambda d: d.execute_script("""
        const m = document.querySelector("main");
        if (!window.__wfHashSeen || !m) return false;
        if (window.__wfRedrawn) { window.__wfRedrawn = false; return true; }
        const fresh = m.firstElementChild && !m.firstElementChild.__wfStale;
        return fresh || m.innerText !== window.__wfBefore;
    """))
    settle()


def set_size(w, h):
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": False})
    wait.until(lambda d: d.execute_script("return window.innerWidth") == w)


def screenshot(name):
    m = driver.execute_script("return [Math.max(document.documentElement.scrollWidth, window.innerWidth), document.documentElement.scrollHeight]")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                             "clip": {"x": 0, "y": 0, "width": m[0], "height": min(m[1], 8000), "scale": 1}})
    path = os.path.join(SHOTS, name + ".png")
    with open(path, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    shots.append(name + ".png")


def slug(href):
    return re.sub(r"[^A-Za-z0-9._-]+", "-", href.lstrip("#/")).strip("-") or "home"


def check(where, signed_out=False):
    """Every invariant of the page now on screen. Signed out, the console may ask for the session and be
    told 401: that is how it learns it must show the sign-in page, not a fault."""
    info = driver.execute_script(INSPECT)
    for label, text in info["texts"]:
        for m in BAD.finditer(text or ""):
            a, b = max(0, m.start() - 40), min(len(text), m.end() + 40)
            fail(where, f"'{m.group(0).strip()}' in {label}: …{text[a:b]!r}…")
            break
    if info["width"] > info["inner"]:
        fail(where, f"page wider than the window: {info['width']} px in {info['inner']} px")
    text = info["words"]
    for m in list(CODE.finditer(text))[:3]:
        fail(where, f"machine code on screen: {m.group(0)!r}")
    if driver.execute_script("return document.documentElement.lang") == "vi":
        for m in list(RAW_VI.finditer(text))[:3]:
            fail(where, f"English code on a Vietnamese page: {m.group(0)!r}")
    if info["inner"] < 600 and not signed_out:
        for s in driver.execute_script(TOUCH)[:3]:
            fail(where, f"touch target under 44 px: {s}")
    for a in info["alerts"]:
        fail(where, f"error shown on opening: {a[:200]!r}")
    if info["main"] == 0:
        fail(where, "empty page")
    errors = driver.execute_script("const e = window.__wf.errors.splice(0); return e;")
    errors += [e["message"] for e in driver.get_log("browser")
               if e["level"] == "SEVERE" and not (signed_out and "status of 401" in e["message"])]
    for e in errors:
        fail(where, f"JavaScript/console error: {e[:300]}")


def accessibility(where):
    """axe-core over the page now on screen: no critical or serious violation."""
    if not driver.execute_script("return !!window.axe"):
        driver.execute_script(AXE)
    result = driver.execute_async_script(
        "const done = arguments[0]; axe.run(document, { resultTypes: ['violations'] }).then((r) => done(r.violations), (e) => done(String(e)))")
    if isinstance(result, str):
        fail(where, f"axe could not run: {result}")
        return
    for v in result:
        if v.get("impact") in ("critical", "serious"):
            nodes = "; ".join(n["target"][0] if n.get("target") else "?" for n in v["nodes"][:3])
            fail(where, f"accessibility ({v['impact']}): {v['id']} — {v['help']} — at {nodes}")


KEYBOARD_TARGETS = """
    const sel = 'a[href], button, input, select, textarea, summary, [tabindex]';
    const shown = (e) => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden'
      && !e.closest('[inert], [aria-hidden="true"], dialog:not([open])');
    // tabindex=-1 takes a heading out (focus is put there after a page change); a control taken out
    // of the Tab order that way is one the keyboard cannot reach, so it stays in.
    const control = (e) => ['A', 'BUTTON', 'INPUT', 'SELECT', 'TEXTAREA', 'SUMMARY'].includes(e.tagName);
    const all = [...document.querySelectorAll(sel)].filter((e) => !e.disabled && e.type !== 'hidden'
      && (control(e) || e.getAttribute('tabindex') !== '-1') && shown(e));
    const want = new Map();
    all.forEach((e, i) => {
      // A radio group is one stop: the arrow keys move inside it.
      const key = e.type === 'radio' ? 'radio:' + e.name : 'k' + i;
      e.dataset.kbd = key;
      if (!want.has(key)) want.set(key, (e.tagName + ' ' + (e.getAttribute('aria-label') || e.textContent || e.name || '')).trim().slice(0, 60));
    });
    if (document.activeElement) document.activeElement.blur();
    window.scrollTo(0, 0);
    return Object.fromEntries(want);
"""


walked = []  # controls per page the Tab walk covered


def press_tab():
    for kind in ("keyDown", "keyUp"):
        driver.execute_cdp_cmd("Input.dispatchKeyEvent", {"type": kind, "key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9})


def keyboard(where):
    """The Tab key alone reaches every control shown (links, buttons, fields, menus): nothing is
    only for a mouse or a finger. Pages with very many controls are walked over their first 160."""
    want = driver.execute_script(KEYBOARD_TARGETS)
    keys = list(want)[:160]
    reached = set()
    for _ in range(len(keys) + 15):
        press_tab()
        k = driver.execute_script("const a = document.activeElement; return a && a.dataset ? a.dataset.kbd || null : null")
        if k:
            reached.add(k)
        if all(x in reached for x in keys):
            walked.append(len(keys))
            return
    walked.append(len(keys))
    missing = [want[k] for k in keys if k not in reached]
    fail(where, f"not reached with the Tab key ({len(missing)}): " + "; ".join(repr(m) for m in missing[:3]))


def links(scope):
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((a) => a.getAttribute('href'))", f'{scope} a[href^="#/"]')


def sign_in(user):
    driver.delete_all_cookies()
    driver.get(URL + "/console")
    driver.execute_script("sessionStorage.clear(); localStorage.clear();")
    driver.get(URL + "/console")
    form = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "input[autocomplete=username]"))
    form.send_keys(user)
    driver.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form [type=submit]").click()
    wait.until(lambda d: links("nav"))
    settle()
    check(f"{user} signing in", signed_out=True)


def crawl(label, width, lang_suffix="", axe=True, kbd=False):
    """Every page the navigation offers, then every page linked from those, once each; with `kbd`,
    the Tab key is walked over each page of the navigation."""
    tag = f"{label}{lang_suffix}-{width}"
    nav = list(dict.fromkeys(links("nav")))
    queue, seen, per_kind, details = list(nav), set(nav), {}, 0
    while queue:
        href = queue.pop(0)
        where = f"{tag} {href}"
        try:
            go(href)
        except TimeoutException:
            fail(where, "page never finished loading")
            continue
        check(where)
        want = CONTENT.get(label, {}).get(href) if not lang_suffix else None
        if want is not None:
            shown = driver.execute_script("return document.querySelector('main').innerText")
            for text in want.get("has", []):
                if text not in shown:
                    fail(where, f"does not show {text!r}")
            for text in want.get("lacks", []):
                if text in shown:
                    fail(where, f"shows {text!r}")
        if axe:
            accessibility(where)
        screenshot(f"{tag}-{slug(href)}")
        if kbd and href in nav:
            keyboard(where)
        for other in links("main"):
            kind = other[2:].split("/")[0].split("?")[0]
            if other in seen or per_kind.get(kind, 0) >= MAX_PER_KIND:
                continue
            seen.add(other)
            per_kind[kind] = per_kind.get(kind, 0) + 1
            queue.append(other)
            details += 1
    visited[tag] = sorted(seen)
    if not lang_suffix:
        for href in CONTENT.get(label, {}):
            if href not in seen:
                fail(tag, f"{href} was never reached, so what it must show was not checked")
    return len(nav), details


started = time.monotonic()
try:
    # The sign-in page, at both widths, before anyone signs in.
    driver.get(URL + "/console")
    for w, h in WIDTHS:
        set_size(w, h)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[autocomplete=username]"))
        settle()
        check(f"signed out-{w} login", signed_out=True)
        accessibility(f"signed out-{w} login")
        screenshot(f"signed-out-{w}-login")
    for i, u in enumerate(USERS):
        sign_in(u["user"])
        for w, h in WIDTHS:
            set_size(w, h)
            # The keyboard walk: each role's pages at the laptop width (on a phone the menu folds).
            pages, details = crawl(u["label"], w, kbd=w >= 1000)
            want = EXPECT.get(u["label"], {})
            if pages < want.get("pages", 1):
                fail(f"{u['label']}-{w}", f"only {pages} pages in the navigation, expected at least {want.get('pages', 1)}")
            if details < want.get("details", 0):
                fail(f"{u['label']}-{w}", f"only {details} pages linked from pages, expected at least {want['details']}")
        if i == 0:
            # The second language, at both widths: the console's own switch.
            toggle = driver.find_elements(By.CSS_SELECTOR, '[data-testid="lang-toggle"]')
            if not toggle:
                fail(u["label"], "no language switch ([data-testid=lang-toggle])")
            else:
                before = driver.execute_script("return document.documentElement.lang")
                toggle[0].click()
                wait.until(lambda d: d.execute_script("return document.documentElement.lang") != before)
                settle()
                for w, h in WIDTHS:
                    set_size(w, h)
                    crawl(u["label"], w, "-" + driver.execute_script("return document.documentElement.lang"), axe=False)
                driver.find_element(By.CSS_SELECTOR, '[data-testid="lang-toggle"]').click()
except Exception as e:  # noqa: BLE001 - report where the crawl itself broke, with a screenshot
    try:
        screenshot("crawl-broke")
    except Exception:  # noqa: BLE001 - the browser itself may be gone
        pass
    fail("crawl", f"{type(e).__name__}: {e}")
finally:
    driver.quit()

with open(os.path.join(SHOTS, "pages.json"), "w") as f:
    json.dump({"visited": visited, "screenshots": shots, "failures": failures}, f, indent=1, ensure_ascii=False)
print(f"{len(shots)} pages checked in {time.monotonic() - started:.0f} s; {len(failures)} failures")
print(f"keyboard: {len(walked)} pages walked with the Tab key, {sum(walked)} controls, all reached" if walked and not any("Tab key" in f for f in failures) else f"keyboard: {len(walked)} pages walked")
if failures:
    sys.exit(1)
print("console crawl passed")
