"""The dashboard's browser: Debian's chromium headless through chromium-driver and
python3-selenium (scripts/install-deps.sh). Screenshots go under the test's temporary
directory, whose path each test prints."""

import json
import os
import pathlib
import shutil
import time

import pytest

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.common.exceptions import (ElementClickInterceptedException,
                                            StaleElementReferenceException)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # the test files say what is missing
    webdriver = Keys = None

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def browser_missing():
    if webdriver is None:
        return "python3-selenium is not installed (scripts/install-deps.sh)"
    for p in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(p):
            return "%s is not installed (scripts/install-deps.sh)" % p
    return None


class Browser:
    """One headless chromium; shot(name) saves a screenshot under shots_dir."""

    def __init__(self, tmp_path, width=1100, height=900):
        self.shots_dir = pathlib.Path(tmp_path) / "screenshots"
        self.shots_dir.mkdir(parents=True, exist_ok=True)
        print("screenshots in", self.shots_dir)
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=%d,%d" % (width, height), "--no-first-run",
                  "--disable-background-networking", "--disable-extensions",
                  "--user-data-dir=%s" % (pathlib.Path(tmp_path) / "chromium")):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        self.n = 0
        self.allowed = ["status of 401"]  # failed loads a test provokes on purpose

    def shot(self, name):
        self.n += 1
        path = self.shots_dir / ("%02d-%s.png" % (self.n, name))
        self.driver.save_screenshot(str(path))
        return path

    def get(self, url):
        """Load url; chromium's own error page (a navigation the host's changing network broke:
        the other suites' dockerd and Podman add and remove bridges) is loaded again, 3 times at
        most, so that only the page's own failures fail a test."""
        for _ in range(4):
            self.driver.get(url)
            if not self.driver.execute_script(
                    "return document.body !== null && document.body.classList.contains('neterror')"):
                return
            time.sleep(0.5)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def finds(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait(self, cond, timeout=60, what="condition"):
        """Until cond(driver) is true; screenshot and fail with what otherwise."""
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(
                lambda d: cond(d), message=what)
        except Exception:
            self.shot("failed")
            raise

    def wait_css(self, css, timeout=60):
        return self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout,
                         "element %s visible" % css)

    def click(self, css, timeout=60):
        """Click the first element css finds once it shows; the live sections redraw, so an
        element found may be replaced before the click: find it again."""
        def go(d):
            try:
                els = d.find_elements(By.CSS_SELECTOR, css)
                if els and els[0].is_displayed():
                    els[0].click()
                    return True
            except (StaleElementReferenceException, ElementClickInterceptedException):
                pass
            return False
        self.wait(go, timeout, "click " + css)

    def wait_text(self, css, text, timeout=60):
        def has(d):
            try:
                return any(text in e.text for e in d.find_elements(By.CSS_SELECTOR, css))
            except StaleElementReferenceException:  # redrawn meanwhile: look again
                return False
        return self.wait(has, timeout, "%r in %s" % (text, css))

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def console_errors(self):
        """The console's SEVERE entries but the failed loads the test provoked (allowed)."""
        out = []
        for e in self.driver.get_log("browser"):
            # the host's network changed under chromium (the other suites' dockerd and Podman
            # add and remove bridges all the time): a load that failed for that is not the page's
            if "net::ERR_NETWORK_CHANGED" in e["message"]:
                continue
            if e["level"] == "SEVERE" and not any(a in e["message"] for a in self.allowed):
                out.append(e["message"])
        return out

    def signin(self, url, token):
        self.get(url + "/")
        self.wait_css("#token").send_keys(token)
        self.find("#signin-form button[type=submit]").click()
        self.wait_css("#devices")

    def transfer(self):
        """Bytes over the wire of the page and of each resource it loaded."""
        return json.loads(self.js(
            "return JSON.stringify(performance.getEntriesByType('navigation')"
            ".concat(performance.getEntriesByType('resource'))"
            ".map(e => ({name: e.name, transfer: e.transferSize, body: e.encodedBodySize,"
            " size: e.decodedBodySize})))"))

    def quit(self):
        self.driver.quit()


@pytest.fixture
def browser(tmp_path):
    missing = browser_missing()
    if missing:
        pytest.fail(missing)
    b = Browser(tmp_path)
    yield b
    try:
        errors = b.console_errors()
    finally:
        b.quit()
    assert errors == [], errors
