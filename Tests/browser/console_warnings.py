"""The console's disaster-warning page in a real headless Chromium (run by IntegrationTests/ConsoleWarningsTests).

A viewer sees the alert in force in its QĐ 18 colour, its polygon on the map and its two villages turning
"played" as the speakers report, without reloading; an approver updates it from the page (the new words go on
air, the old alert says it was updated and links to the new one) and cancels the update (the all-clear plays).
Both widths. Environment: WF_URL, WF_SHOTS, WF_PASSWORD, WF_ALERT (the alert's id). Exits non-zero on failure.
"""
import os
import re
import sys

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

URL, SHOTS, PASSWORD, ALERT = os.environ["WF_URL"], os.environ["WF_SHOTS"], os.environ["WF_PASSWORD"], os.environ["WF_ALERT"]
os.makedirs(SHOTS, exist_ok=True)
opts = webdriver.ChromeOptions()
for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,900", "--lang=vi", "--hide-scrollbars"]:
    opts.add_argument(a)
opts.binary_location = "/usr/bin/chromium"
opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"), options=opts)
RETRY = [StaleElementReferenceException, NoSuchElementException]
wait = WebDriverWait(driver, 120, ignored_exceptions=RETRY)
BAD = re.compile(r"\[object |\b(?:null|undefined|NaN)\b")
step = "start"


def size(w, h):
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": False})
    wait.until(lambda d: d.execute_script("return window.innerWidth") == w)


def go(hash_):
    driver.execute_script("location.hash = arguments[0]", hash_)


def shot(name):
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def main_text():
    return driver.execute_script("return document.querySelector('main').innerText")


def sound(where):
    """No missing value on screen, nothing wider than the window, no JavaScript error."""
    text = main_text()
    m = BAD.search(text)
    if m:
        raise AssertionError(f"{where}: {m.group(0)!r} on screen: …{text[max(0, m.start() - 60):m.end() + 60]!r}…")
    width, inner = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    if width > inner:
        raise AssertionError(f"{where}: page {width} px wide in a {inner} px window")
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    if errors:
        raise AssertionError(f"{where}: JavaScript errors {errors[:3]}")


def sign_in(user):
    driver.delete_all_cookies()
    driver.get(URL + "/console")
    driver.execute_script("sessionStorage.clear(); localStorage.clear();")
    driver.get(URL + "/console")
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "input[autocomplete=username]")).send_keys(user)
    driver.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form [type=submit]").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, 'nav a[data-nav="warnings"]'))
    # Signed out, the console asks for the session and is told 401: how it learns to show the sign-in page.
    driver.get_log("browser")


def reach(village):
    rows = driver.find_elements(By.CSS_SELECTOR, f'[data-testid="warning-villages"] tr[data-village="{village}"]')
    return rows[0].get_attribute("data-reach") if rows else None


def villages_shown():
    return sorted(r.get_attribute("data-village") for r in driver.find_elements(By.CSS_SELECTOR, '[data-testid="warning-villages"] tr[data-village]'))


try:
    # A viewer, on a phone then a laptop: the list, then the warning turning "played" village by village.
    step = "viewer"
    sign_in("xem")
    for w, h in [(390, 844), (1366, 900)]:
        size(w, h)
        step = f"viewer list {w}"
        go("#/warnings")
        card = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f'[data-testid="warnings-active"] a[data-warning="{ALERT}"]'))
        badge = card.find_element(By.CSS_SELECTOR, ".risk")
        assert badge.get_attribute("data-risk") == "5", badge.get_attribute("outerHTML")
        assert "tím" in badge.text, badge.text
        sound(step)
        shot(f"warnings-{w}-list")
        step = f"viewer warning {w}"
        go(f"#/warnings/{ALERT}")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="warning-polygon"]'))
        # Live: the villages turn "played" as the speakers report (the page is never reloaded).
        wait.until(lambda d: reach("thon-mot") == "played" and reach("thon-hai") == "played")
        assert villages_shown() == ["thon-hai", "thon-mot"], villages_shown()
        markers = driver.find_elements(By.CSS_SELECTOR, '[data-testid="warning-map"] [data-reach]')
        assert len(markers) == 2 and all(m.get_attribute("data-reach") == "played" for m in markers), \
            [m.get_attribute("outerHTML")[:200] for m in markers]
        text = main_text()
        for want in ["Rủi ro cấp 5", "đang hiệu lực", "Các lần phát lại tới", "3/3 loa phát trọn", "mỗi 30 phút"]:
            assert want in text, f"{want!r} not on the page:\n{text[:1500]}"
        assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="warning-actions"]'), "a viewer is offered Update/Cancel"
        sound(step)
        shot(f"warnings-{w}-viewer-reach-live")

    # The approver updates the warning from the page, then cancels the update.
    step = "approver update"
    sign_in("chutich")
    size(390, 844)
    go(f"#/warnings/{ALERT}")
    form = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="warning-actions"]'))
    driver.execute_script("window.confirm = () => true")
    headline = driver.find_element(By.CSS_SELECTOR, '[data-testid="update-headline"]')
    headline.clear()
    headline.send_keys("Bão số 3 đổi hướng vào Cẩm La, gió giật cấp 14")
    driver.find_element(By.CSS_SELECTOR, '[data-testid="update-reason"]').send_keys("tin mới của đài")
    sound(step)
    shot("warnings-390-approver-update-form")
    button = driver.find_element(By.CSS_SELECTOR, '[data-testid="warning-update"]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    wait.until(lambda d: re.fullmatch(r"#/warnings/\d+", d.execute_script("return location.hash"))
               and d.execute_script("return location.hash") != f"#/warnings/{ALERT}")
    updated = driver.execute_script("return location.hash").split("/")[-1]
    wait.until(lambda d: "gió giật cấp 14" in d.find_element(By.CSS_SELECTOR, '[data-testid="warning-headline"]').text)
    wait.until(lambda d: reach("thon-mot") == "played" and reach("thon-hai") == "played")
    sound("the update")
    shot("warnings-390-update-on-air")

    step = "the replaced alert"
    go(f"#/warnings/{ALERT}")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'a[href="#/warnings/{updated}"]'))
    assert "đã được cập nhật" in main_text()
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="warning-actions"]'), "Update/Cancel offered on a replaced alert"

    step = "approver cancel"
    size(1366, 900)
    go(f"#/warnings/{updated}")
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="warning-cancel"]'))
    driver.execute_script("window.confirm = () => true")
    driver.find_element(By.CSS_SELECTOR, '[data-testid="warning-cancel"]').click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="warning-cancelled"]'))
    wait.until(lambda d: "đã hủy" in main_text() and not d.find_elements(By.CSS_SELECTOR, '[data-testid="warning-actions"]'))
    # The all-clear is a play of its own: chosen in the picker, it reaches both villages.
    wait.until(lambda d: any("hết cảnh báo" in o.text for o in d.find_elements(By.CSS_SELECTOR, '[data-testid="warning-play"] option')))
    options = driver.find_elements(By.CSS_SELECTOR, '[data-testid="warning-play"] option')
    assert options[-1].get_attribute("selected"), "the latest play (the all-clear) is not the one shown"
    wait.until(lambda d: reach("thon-mot") == "played" and reach("thon-hai") == "played")
    sound(step)
    shot("warnings-1366-cancelled-all-clear")
    print(f"updated {updated}")
except Exception as e:  # noqa: BLE001 - report the step, with a screenshot
    try:
        shot("warnings-broke")
    except Exception:  # noqa: BLE001
        pass
    print(f"FAILED at {step}: {type(e).__name__}: {e}", file=sys.stderr)
    driver.quit()
    sys.exit(1)
driver.quit()
print("warning page scenario passed")
