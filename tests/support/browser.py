"""A real headless Chromium (Debian's chromium + chromium-driver) driven by selenium, for pages the suite writes."""
from __future__ import annotations

import contextlib
import shutil

import pytest

INSTALL = "bash tests/install-browser.sh (apt-get install chromium chromium-driver)"


@contextlib.contextmanager
def chromium(width: int = 1400, height: int = 1800):
    """A headless Chromium that records console messages; a failure (never a skip) without one."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.fail(f"chromium and chromedriver are needed to test report.html: {INSTALL}", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    # --no-sandbox: the tests may run as root, where Chromium's sandbox refuses to start.
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: selenium never looks for (or downloads) a driver of its own.
    session = webdriver.Chrome(options=options, service=Service(driver))
    try:
        yield session
    finally:
        session.quit()


def console_errors(session) -> list[dict]:
    """Console entries at SEVERE level since the last call (script errors, blocked fetches, broken images)."""
    return [entry for entry in session.get_log("browser") if entry.get("level") == "SEVERE"]
