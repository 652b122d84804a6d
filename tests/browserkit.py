"""A real headless Chromium (Debian's chromium + chromium-driver) driven by Selenium."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    for path in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(path) is None:
            raise RuntimeError(
                f"{path} is missing: apt-get install -y chromium chromium-driver (.ci/run does)"
            )
    profile = tempfile.mkdtemp(prefix="packshot-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def images_loaded(driver: webdriver.Chrome, selector: str) -> list[int]:
    """naturalWidth of every image matching ``selector`` (0 = did not load)."""
    widths = driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".map(i => i.complete ? i.naturalWidth : 0);",
        selector,
    )
    return [int(w) for w in widths]


def wait_text(driver: webdriver.Chrome, element_id: str, text: str, timeout: float = 15) -> None:
    """Wait until the element ``element_id`` says ``text``; the page re-renders after each
    action, so the element is looked up afresh on every poll."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(
        driver,
        timeout,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    ).until(lambda d: d.find_element(By.ID, element_id).text == text)
