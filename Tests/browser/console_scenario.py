"""Console scenario in a real headless Chromium (run by IntegrationTests/BrowserTests, not by hand).

Environment: WF_URL (console base), WF_SIM_PID (simulator of LOA-1 to kill), WF_SHOTS (screenshot dir),
WF_PASSWORD, WF_DAY (tomorrow, YYYY-MM-DD local). Exits non-zero with a message on the first failure.
"""
import datetime
import os
import signal
import sys

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

URL, SHOTS, PASSWORD, DAY = os.environ["WF_URL"], os.environ["WF_SHOTS"], os.environ["WF_PASSWORD"], os.environ["WF_DAY"]
YESTERDAY = (datetime.date.fromisoformat(DAY) - datetime.timedelta(days=2)).isoformat()
DAY_AFTER = (datetime.date.fromisoformat(DAY) + datetime.timedelta(days=1)).isoformat()
TODAY = (datetime.date.fromisoformat(DAY) - datetime.timedelta(days=1)).isoformat()
os.makedirs(SHOTS, exist_ok=True)

opts = webdriver.ChromeOptions()
for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000", "--lang=vi",
          # A microphone for recording in the browser: Chromium's fake device (a tone), allowed without asking.
          "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--autoplay-policy=no-user-gesture-required"]:
    opts.add_argument(a)
opts.binary_location = "/usr/bin/chromium"
driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"), options=opts)
# Pages re-render after each action: elements found a moment ago may be gone; look again.
RETRY = [StaleElementReferenceException, NoSuchElementException]
wait = WebDriverWait(driver, 60, ignored_exceptions=RETRY)
step = "start"


def shot(name):
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def click(el):
    # The header is sticky: bring the element to the middle of the screen first.
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()


def go(hash_):
    # Hash navigation only: the page is never reloaded after login.
    driver.execute_script("location.hash = arguments[0]", hash_)


def css(sel):
    return wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, sel)))


WIDTHS = [(390, 844), (1366, 900)]
taps = 0


def tap(el):
    """A person's tap: counted, so a journey can say how many it took."""
    global taps
    taps += 1
    click(el)


def press(sel):
    """Clicks what the selector finds once it is there and stays there (pages redraw after an action)."""
    def attempt(d):
        el = d.find_element(By.CSS_SELECTOR, sel)
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
        el.click()
        return True
    wait.until(attempt)


def size(w, h):
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": w < 600})
    wait.until(lambda d: d.execute_script("return window.innerWidth") == w)


def nav_to(page_id):
    """Opens a page from the menu as a person does (on a phone: the ☰ button first)."""
    toggle = driver.find_element(By.ID, "menu-toggle")
    if toggle.is_displayed():
        tap(toggle)
    tap(wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, f'[data-nav="{page_id}"]'))))


def open_new_form():
    """A fresh schedule form: through the week view, so the form is drawn anew even when it was open."""
    go("#/broadcasts/week")
    css('[data-view="week"]')
    go("#/broadcasts/new")
    return css("#schedule-form")


def schedule_village_bulletin(title, text, day, time="09:00", repeat=None):
    """Fills the schedule form as an officer would (Thôn Cẩm La) and sends it."""
    open_new_form()
    driver.find_element(By.ID, "title").send_keys(title)
    driver.find_element(By.ID, "text").send_keys(text)
    # The form's own date picker does not offer past days (min); the server must refuse one anyway.
    driver.execute_script("const d = document.getElementById('day'); d.removeAttribute('min'); d.value = arguments[0];"
                          "document.getElementById('time').value = arguments[1]", day, time)
    if repeat:
        Select(driver.find_element(By.ID, "repeat")).select_by_value(repeat)
    click(driver.find_element(By.CSS_SELECTOR, 'input[name=village][value="thon-cam-la"]'))
    click(driver.find_element(By.ID, "schedule-submit"))


def settled():
    """Fetches (and the reading of their bodies) are counted from here on; waits until none runs."""
    driver.execute_script("""
        if (!window.__busy) {
          window.__busy = { n: 0 };
          const count = (p) => { window.__busy.n++; return p.finally(() => { window.__busy.n--; }); };
          const realFetch = window.fetch;
          window.fetch = function (...a) { return count(realFetch.apply(this, a)); };
          for (const m of ["text", "json"]) { const real = Response.prototype[m]; Response.prototype[m] = function (...a) { return count(real.apply(this, a)); }; }
        }""")
    wait.until(lambda d: d.execute_script("return window.__busy.n === 0"))


def api_get(path):
    return driver.execute_async_script(
        "const done = arguments[1]; fetch(arguments[0]).then((r) => r.json()).then(done, (e) => done(String(e)))", path)


# Every KPI question the page asks is recorded in order, with the answer it got. The table on screen
# must be the answer to the latest question, and that question must be about `month`. (Compared with
# the page's own answer, not a fresh one: the running month's availability changes by the second.)
RECORD_KPI = """
window.__kpi = [];
const realFetch = window.fetch;
window.fetch = function (url, ...rest) {
  const m = /\\/api\\/v1\\/kpi\\?month=([0-9-]+)/.exec(String(url));
  const p = realFetch.call(this, url, ...rest);
  if (!m) return p;
  const asked = { month: m[1], answer: null };
  window.__kpi.push(asked);
  return p.then((r) => { r.clone().json().then((b) => { asked.answer = b; }); return r; });
};
"""
KPI_MATCHES = """
const [month] = arguments;
const last = window.__kpi[window.__kpi.length - 1];
if (!last || last.month !== month || !last.answer) return false;
const pct = (v) => (v === null || v === undefined ? "—" : new Intl.NumberFormat("vi-VN", { maximumFractionDigits: 1 }).format(v * 100) + " %");
const want = Object.fromEntries(last.answer.deployment.kpis.map((x) => [x.id, pct(x.value)]));
const rows = [...document.querySelectorAll('main [data-testid="kpi-table"] tbody tr')].map((tr) => [tr.dataset.kpi, tr.cells[1].innerText.trim()]);
return rows.length > 0 && rows.length === Object.keys(want).length && rows.every(([id, value]) => want[id] === value);
"""
MONTH_FIGURES = """
const done = arguments[1];
fetch(`/api/v1/kpi?month=${arguments[0]}`).then((r) => r.json()).then((k) => done(k.deployment.kpis.map((x) => [x.id, x.value])));
"""


def kpi_shows(month):
    return driver.execute_script(KPI_MATCHES, month)


def login(user):
    go("#/login")
    css("#login-form")
    driver.find_element(By.ID, "user").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-submit").click()
    wait.until(lambda d: d.find_element(By.ID, "who").text.strip() != "")


def logout():
    # Wait for the sign-out to finish: a person cannot sign in again faster than that, a script can.
    driver.find_element(By.ID, "logout").click()
    wait.until(lambda d: d.find_element(By.ID, "who").text.strip() == "" and d.find_elements(By.ID, "login-form"))


try:
    step = "first load on a slow link (1.6 Mbit/s, 150 ms)"
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, "latency": 150,
                                                                "downloadThroughput": 1.6e6 / 8, "uploadThroughput": 1.6e6 / 8})
    driver.get(URL + "/console")
    # Looked for every 10 ms (not the usual half second), so the figure is when the form appeared.
    WebDriverWait(driver, 30, poll_frequency=0.01).until(lambda d: d.find_elements(By.ID, "login-form"))
    first_load = driver.execute_script("return performance.now()")
    transferred = driver.execute_script("return performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation'))"
                                        ".reduce((n, e) => n + (e.transferSize || 0), 0)")
    print(f"first load, 1.6 Mbit/s and 150 ms: sign-in form drawn after {first_load:.0f} ms, {transferred} bytes transferred")
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    assert driver.find_element(By.ID, "login-submit").text == "Đăng nhập", "Vietnamese by default"
    shot("01-login")

    # Each width its own village and times: the second run must not collide with the first.
    village, village_name = "thon-cam-la", "Thôn Cẩm La"
    for (w, hgt), rec_time in zip(WIDTHS, ["07:30", "07:45"]):
        size(w, hgt)
        step = f"{w}: the operator schedules a weekday village bulletin from the landing page"
        login("vanhoa")
        # The first width's weekday bulletin is cancelled first: the same bulletin again would collide with it.
        for b in api_get("/api/v1/broadcasts"):
            if b["item"]["title"].startswith("Bản tin sáng thôn Cẩm La") and b["status"] != "cancelled":
                driver.execute_async_script("""const done = arguments[1];
                    fetch(`/api/v1/broadcasts/${arguments[0]}/cancel`, { method: "POST", body: "{}", headers: {
                      "Content-Type": "application/json", "X-CSRF-Token": sessionStorage.getItem("wf-csrf") } }).then(() => done())""",
                                            b["item"]["id"])
        taps = 0
        tap(wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, '[data-testid="quick-schedule"]'))))
        tap(css("#title"))
        driver.find_element(By.ID, "title").send_keys(f"Bản tin sáng thôn Cẩm La ({w})")
        tap(driver.find_element(By.ID, "text"))
        driver.find_element(By.ID, "text").send_keys("Thông báo lịch tiêm chủng và thu gom rác trong tuần.")
        Select(driver.find_element(By.ID, "repeat")).select_by_value("weekdays")
        taps += 1  # choosing in the picker
        tap(driver.find_element(By.CSS_SELECTOR, f'input[name=village][value="{village}"]'))
        tap(driver.find_element(By.ID, "schedule-submit"))
        confirmation = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="schedule-confirmation"]'))
        text_ = confirmation.text
        assert taps <= 6, f"{taps} taps"
        assert village_name in text_ and "06:00" in text_ and "ngày làm việc" in text_ and "chờ duyệt" in text_, text_
        print(f"{w} px: weekday village bulletin scheduled in {taps} taps: {text_}")
        shot(f"10-{w}-scheduled-confirmation")

        step = f"{w}: a recorded bulletin is scheduled"
        open_new_form()
        driver.find_element(By.ID, "title").send_keys(f"Ghi âm thông báo họp ({w})")
        click(driver.find_element(By.CSS_SELECTOR, 'input[name=source][value="record"]'))
        press('[data-testid="record-start"]')
        wait.until(lambda d: "Đang ghi" in d.find_element(By.CSS_SELECTOR, ".recorder").text)
        WebDriverWait(driver, 10).until(lambda d: "2 giây" in d.find_element(By.CSS_SELECTOR, ".recorder").text
                                        or "3 giây" in d.find_element(By.CSS_SELECTOR, ".recorder").text)
        click(driver.find_element(By.CSS_SELECTOR, '[data-testid="record-stop"]'))
        wait.until(lambda d: d.execute_script(
            "const a = document.querySelector('[data-testid=recording-player]'); return a && !a.hidden && a.src.startsWith('blob:')"))
        # The recording can be listened back before it is saved (a blob: the page's policy must allow).
        wait.until(lambda d: d.execute_script(
            "const a = document.querySelector('[data-testid=recording-player]'); return a.readyState >= 1 && a.duration > 0"))
        shot(f"11-{w}-recorded-listen-back")
        if w < 600:
            click(driver.find_element(By.CSS_SELECTOR, '[data-testid="record-save"]'))  # saved first …
            css('[data-testid="recording-saved"]')
        # … or, at the other width, saved together with the item by the form's own Lưu.
        driver.execute_script("document.getElementById('time').value = arguments[0]", rec_time)
        click(driver.find_element(By.CSS_SELECTOR, f'input[name=village][value="{village}"]'))
        click(driver.find_element(By.ID, "schedule-submit"))
        confirmation = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="schedule-confirmation"]'))
        assert "Ghi âm thông báo họp" in confirmation.text and rec_time in confirmation.text, confirmation.text
        shot(f"12-{w}-recording-scheduled")
        logout()

        step = f"{w}: the approver approves from the landing page, with a preview"
        login("chutich")
        badge = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, '[data-testid="approval-badge"]')))
        shot(f"13-{w}-approver-landing")
        click(badge)
        item = wait.until(lambda d: d.find_element(By.XPATH, f'//li[@data-pending-item][.//h3[contains(., "Bản tin sáng thôn Cẩm La ({w})")]]'))
        assert village_name in item.text and "vanhoa" in item.text, item.text
        assert item.find_elements(By.CSS_SELECTOR, "audio"), "no audio preview"
        shot(f"14-{w}-approval-preview")
        item_id = item.get_attribute("data-pending-item")
        click(item.find_element(By.CSS_SELECTOR, "[data-approve]"))
        wait.until(lambda d: next(b for b in api_get("/api/v1/broadcasts") if b["item"]["id"] == item_id)["status"] == "approved")

        step = f"{w}: an emergency shows its acknowledgements live"
        go("#/broadcasts/week")
        css('[data-view="week"]')
        press("#emergency-button")
        css("#emergency-dialog[open]")
        driver.find_element(By.ID, "em-title").send_keys(f"Bão số 3 ({w})")
        driver.find_element(By.ID, "em-text").send_keys("Khẩn cấp: bão số ba đổ bộ, bà con không ra khơi.")
        shot(f"15-{w}-emergency-dialog")
        press("#emergency-confirm")
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#emergency-dialog[open]"))
        acks = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="emergency-acks"]'))
        WebDriverWait(driver, 60, ignored_exceptions=RETRY).until(lambda d: int(d.find_element(
            By.CSS_SELECTOR, '[data-testid="emergency-acks"]').get_attribute("data-acked")) >= 1)
        print(f"{w} px: emergency acknowledgements shown live: {driver.find_element(By.CSS_SELECTOR, '[data-testid=emergency-acks]').text}")
        shot(f"16-{w}-emergency-acks-live")

        step = f"{w}: the report prints"
        go("#/kpi")
        press('[data-testid="view-report"]')
        frame = css('[data-testid="report-frame"]')
        driver.switch_to.frame(frame)
        wait.until(lambda d: "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in d.find_element(By.TAG_NAME, "body").text)
        html = driver.execute_script("return document.documentElement.outerHTML")
        # Read on a phone, the report never scrolls sideways (a wide table scrolls in itself).
        sideways = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert sideways <= 1, f"{w} px: the inline report scrolls sideways by {sideways} px"
        driver.switch_to.default_content()
        shot(f"17-{w}-report-inline")
        press('[data-testid="print-report"]')  # opens the browser's print (no dialog headless)
        logout()
    # The printed report, as the browser prints it (A4), kept as an artifact.
    step = "the report as a PDF"
    driver.execute_script("document.open(); document.write(arguments[0]); document.close();", html)
    pdf = driver.execute_cdp_cmd("Page.printToPDF", {"preferCSSPageSize": True, "printBackground": True})["data"]
    import base64
    raw = base64.b64decode(pdf)
    with open(os.path.join(SHOTS, "18-report.pdf"), "wb") as f:
        f.write(raw)
    assert raw.startswith(b"%PDF") and raw.count(b"/Type /Page") >= 1, "report PDF"
    driver.get(URL + "/console")
    size(1366, 900)

    step = "technician: device goes offline, seen without reload, found in one tap"
    login("kt-minh")
    go("#/device/LOA-1")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="charts"] svg[data-chart]'))
    shot("02a-device-charts")
    go("#/devices")
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-device-state="LOA-1"]').get_attribute("data-state") == "ok")
    # Storm readiness from the same page: LOA-1 self-tests; Khu phố Yên Giang has no speaker, so it would not hear.
    press('[data-testid="readiness-run"]')
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="readiness-table"] [data-village="thon-cam-la"]')
               .get_attribute("data-can-hear") == "true")
    gone = css('[data-testid="readiness-would-not"] [data-village="kp-yen-giang"]')
    assert "không có cụm loa" in gone.text, gone.text
    shot("02b-readiness")
    driver.execute_script("window.__noReload = 'still here'")
    os.kill(int(os.environ["WF_SIM_PID"]), signal.SIGKILL)  # its Last Will tells the controller
    WebDriverWait(driver, 90, ignored_exceptions=RETRY).until(
        lambda d: d.find_element(By.CSS_SELECTOR, '[data-device-state="LOA-1"]').get_attribute("data-state") == "offline")
    assert driver.execute_script("return window.__noReload") == "still here", "page was reloaded"
    shot("02-device-offline-live")
    for w, hgt in WIDTHS:
        size(w, hgt)
        go("#/attention")
        line = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, '[data-broken="LOA-1"] a')))
        assert "mất kết nối" in line.text and "đã" in line.text and "Thôn Cẩm La" in line.text, line.text
        shot(f"19-{w}-attention")
        taps = 0
        tap(line)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "h1").text.startswith("LOA-1"))
        assert taps == 1
        shot(f"20-{w}-broken-device-in-one-tap")
    size(1366, 900)
    logout()

    step = "a conflicting bulletin is refused in plain words"
    login("vanhoa")
    schedule_village_bulletin("Họp thôn Cẩm La", "Mời bà con thôn Cẩm La dự họp tại nhà văn hóa lúc chín giờ sáng mai.", DAY)
    wait.until(lambda d: "chờ duyệt" in d.find_element(By.CSS_SELECTOR, '[data-testid="schedule-result"]').text)
    shot("03-scheduled-pending")
    schedule_village_bulletin("Tin trùng giờ", "Một bản tin khác cùng giờ.", DAY)
    err = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="schedule-result"] [data-testid="error"]'))
    assert "trùng giờ" in err.text and "Họp thôn Cẩm La" in err.text, err.text
    assert "cannot schedule" not in err.text, f"one language only: {err.text}"
    shot("04-conflict")
    step = "operator edits the item's title"
    go("#/broadcasts/week")
    item_id = next(b["item"]["id"] for b in api_get("/api/v1/broadcasts") if b["item"]["title"] == "Họp thôn Cẩm La")
    click(wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, f'[data-edit="{item_id}"]'))))
    title = css("#edit-title")
    title.clear()
    title.send_keys("Họp thôn Cẩm La (đổi giờ)")
    driver.execute_script("document.getElementById('edit-time').value = '09:30'")
    click(driver.find_element(By.ID, "edit-submit"))
    wait.until(lambda d: "chờ duyệt" in d.find_element(By.CSS_SELECTOR, '[data-testid="item-editor"]').text)
    shot("04a-edited")
    step = "a start already past is refused in plain words"
    schedule_village_bulletin("Tin đặt nhầm ngày", "Bản tin này đặt vào ngày đã qua.", YESTERDAY)
    err = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="schedule-result"] [data-testid="error"]'))
    assert "đã qua" in err.text, err.text
    assert not any(b["item"]["title"] == "Tin đặt nhầm ngày" for b in api_get("/api/v1/broadcasts")), "stored anyway"
    shot("05a-past-start-refused")
    step = "a weekday bulletin moved to another day stays on weekdays"
    schedule_village_bulletin("Bản tin sáng ngày làm việc", "Bản tin buổi sáng các ngày làm việc.", DAY, time="05:00", repeat="weekdays")
    wait.until(lambda d: "Đã lên lịch" in d.find_element(By.CSS_SELECTOR, '[data-testid="schedule-result"]').text)
    weekday_item = next(b["item"]["id"] for b in api_get("/api/v1/broadcasts") if b["item"]["title"] == "Bản tin sáng ngày làm việc")
    go("#/broadcasts/week")
    click(wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, f'[data-edit="{weekday_item}"]'))))
    css("#edit-form")
    driver.execute_script("document.getElementById('edit-day').value = arguments[0]", DAY_AFTER)
    click(driver.find_element(By.ID, "edit-submit"))
    wait.until(lambda d: "Đã lưu" in d.find_element(By.CSS_SELECTOR, '[data-testid="item-editor"]').text)
    rec = next(b["item"]["recurrence"] for b in api_get("/api/v1/broadcasts") if b["item"]["id"] == weekday_item)
    assert list(rec["rule"]) == ["weekdays"] and rec["first_day"] == DAY_AFTER and rec["start_time"] == "05:00", rec
    shot("05b-weekday-item-moved")
    logout()
    step = "approver approves; the item is on the week calendar"
    login("chutich")
    go("#/broadcasts/approval")
    button = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, f'[data-approve="{item_id}"]')))
    button.click()
    go("#/broadcasts/week")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'[data-testid="week"] [data-slot="{item_id}"]')
               and "chờ duyệt" not in d.find_element(By.CSS_SELECTOR, f'[data-testid="week"] [data-slot="{item_id}"]').text)
    assert "đổi giờ" in driver.find_element(By.CSS_SELECTOR, f'[data-testid="week"] [data-slot="{item_id}"]').text
    shot("05-approved-calendar")
    step = "the KPI page shows the chosen month's figures"
    go("#/overview")
    settled()
    driver.execute_script(RECORD_KPI)
    go("#/kpi")
    css('main [data-testid="kpi-table"]')
    settled()
    this_month = TODAY[:7]
    last_month = (datetime.date.fromisoformat(this_month + "-01") - datetime.timedelta(days=1)).isoformat()[:7]
    first = driver.execute_script("return document.querySelector('main input[type=month]').value")
    other = last_month if first == this_month else this_month
    assert kpi_shows(first), "the first month's figures"
    first_figures, other_figures = driver.execute_async_script(MONTH_FIGURES, first), driver.execute_async_script(MONTH_FIGURES, other)
    assert first_figures != other_figures, f"{first} and {other} have the same figures: the check below could not fail"

    def choose(month):
        driver.execute_script("""const m = document.querySelector('main input[type=month]');
            m.value = arguments[0]; m.dispatchEvent(new Event('input', { bubbles: true })); m.dispatchEvent(new Event('change', { bubbles: true }));""", month)

    choose(other)  # a new month in the box: its figures, not the previous month's
    WebDriverWait(driver, 20).until(lambda d: kpi_shows(other), f"figures of {other} after choosing it")
    # A slow answer for an earlier choice must not replace the latest one: hold the answer for
    # `other`, ask for it, then choose `first` and let the held answer arrive last.
    driver.execute_script("""
        window.__held = [];
        const realFetch = window.fetch;
        window.fetch = ((held) => function (url, ...rest) {
          const p = realFetch(url, ...rest);
          return String(url).includes("month=" + held) ? new Promise((resolve) => window.__held.push(() => resolve(p))) : p;
        })(arguments[0]);""", other)
    click(driver.find_element(By.CSS_SELECTOR, "main .panel button.primary"))  # Xem: asks for `other` again, held
    wait.until(lambda d: d.execute_script("return window.__held.length") == 1)
    choose(first)
    click(driver.find_element(By.CSS_SELECTOR, "main .panel button.primary"))
    WebDriverWait(driver, 20).until(lambda d: kpi_shows(first), f"figures of {first} after choosing it")
    driver.execute_script("window.__held.splice(0).forEach((release) => release())")
    settled()
    assert kpi_shows(first), f"the late answer for {other} replaced the figures of {first}"
    shot("05c-kpi-month")

    step = "English"
    driver.find_element(By.CSS_SELECTOR, '[data-testid="lang-toggle"]').click()
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-nav="broadcasts"]').get_attribute("textContent") == "Broadcasts")
    shot("07-english")
    size(412, 915)  # a phone
    go("#/devices")
    css('[data-testid="device-table"]')
    shot("08-phone")
    print("browser scenario passed")
except Exception as e:  # noqa: BLE001 - report which step failed, with a screenshot
    shot("failed")
    print(f"FAILED at '{step}': {type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(1)
finally:
    driver.quit()
