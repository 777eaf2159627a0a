"""Headless Chromium from Debian's `chromium` and `chromium-driver` packages, driven by selenium."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import TypeVar

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

T = TypeVar("T")

BROWSER_PACKAGES = "chromium chromium-driver"
UI_PRESETS = {"communityNux": '"1"'}
"""Local storage the UI reads on load: the "Join the Dagster community" dialog counts as seen."""


def missing_browser() -> str | None:
    """Why headless Chromium cannot start here (its binaries are not on PATH), or None."""
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if not missing:
        return None
    return (
        f"{' and '.join(missing)} not on PATH: install Debian's packages "
        f"(`apt-get install -y {BROWSER_PACKAGES}`, as `make browser` does)"
    )


def headless_chromium(width: int, height: int) -> WebDriver:
    """A headless Chromium with a `width` x `height` window, from the system's binaries (no download)."""
    if reason := missing_browser():
        raise RuntimeError(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = str(shutil.which("chromium"))
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)


def open_ui(driver: WebDriver, base_url: str, path: str) -> None:
    """Open `path` of the UI at `base_url` with `UI_PRESETS` in local storage."""
    driver.get(f"{base_url}/server_info")
    for key, value in UI_PRESETS.items():
        driver.execute_script("window.localStorage.setItem(arguments[0], arguments[1]);", key, value)
    driver.get(f"{base_url}{path}")


def wait_until(condition: Callable[[], T | None], timeout: float, what: str, poll: float = 0.5) -> T:
    """Poll `condition` until it returns something truthy; fail naming `what` after `timeout` seconds.

    An element the page re-rendered while `condition` read it (stale) counts as not yet there.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if result := condition():
                return result
        except StaleElementReferenceException:
            pass
        time.sleep(poll)
    raise TimeoutError(f"{what}: not seen within {timeout:.0f} s")


def page_text(driver: WebDriver) -> str:
    """The visible text of the page."""
    return driver.find_element(By.TAG_NAME, "body").text


def button(root: WebDriver | WebElement, text: str) -> WebElement | None:
    """The first displayed, enabled button under `root` whose text is `text`."""
    for element in root.find_elements(By.TAG_NAME, "button"):
        if element.text.strip() == text and element.is_displayed() and element.is_enabled():
            return element
    return None
