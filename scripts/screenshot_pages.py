"""The documentation's four screenshots: which UI page each opens, what it waits for, what part it keeps."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from spotify_assets_tests.browser import button, open_ui, page_text, wait_until

Box = tuple[int, int, int, int]
GROUPS = ("raw", "silver", "gold", "report")
ASSETS = 11
SCREENSHOT_PRESETS = {"dagster-nav-collapsed": "true"}
"""Local storage for the screenshots: the main navigation shows icons only."""
SETTLE = 1.5  # seconds for the last layout and chart animations after the awaited text appears


def _open(driver: WebDriver, url: str, path: str, width: int, height: int) -> None:
    """Size the window, then open `path` with the navigation collapsed."""
    driver.set_window_size(width, height)
    driver.get(f"{url}/server_info")
    for key, value in SCREENSHOT_PRESETS.items():
        driver.execute_script("window.localStorage.setItem(arguments[0], arguments[1]);", key, value)
    open_ui(driver, url, path)


def _save(driver: WebDriver, path: Path, box: Box | None = None) -> None:
    """Write the viewport (cropped to `box`: left, top, right, bottom) as a 256-colour PNG."""
    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    if box is not None:
        image = image.crop(box)
    image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def _wait_for_text(driver: WebDriver, needle: str, count: int = 1, timeout: float = 90) -> None:
    """Wait until the page shows `needle` at least `count` times, then let it settle."""
    wait_until(lambda: page_text(driver).count(needle) >= count, timeout, f"{needle!r} x{count} on the page")
    time.sleep(SETTLE)


def lineage(driver: WebDriver, url: str, path: Path) -> None:
    """The global asset graph with every group expanded, each asset's facets shown, cropped to the groups."""
    expanded = ",".join(f"global@global:{group}" for group in GROUPS)
    _open(driver, url, f"/asset-groups?expanded={expanded}", 1700, 1550)
    jump = driver.find_elements(By.CSS_SELECTOR, "input[placeholder^='Jump to']")
    if jump and jump[0].is_displayed():  # the asset tree beside the graph: hidden, the graph gets its width
        driver.find_element(By.CSS_SELECTOR, "button:has([aria-label=panel_show_right])").click()
    _wait_for_text(driver, "Latest event", ASSETS)
    _wait_for_text(driver, "ago", ASSETS)
    rects = driver.execute_script(
        "return [...document.querySelectorAll('foreignObject.group')].map(e => e.getBoundingClientRect())"
        ".map(r => [r.left, r.top, r.right, r.bottom]);"
    )
    if len(rects) != len(GROUPS):
        raise RuntimeError(f"expected {len(GROUPS)} expanded groups in the graph, found {len(rects)}")
    pad = 16
    box = (min(r[0] for r in rects) - pad, min(r[1] for r in rects) - pad,
           max(r[2] for r in rects) + pad, max(r[3] for r in rects) + pad)  # fmt: skip
    _save(driver, path, (round(box[0]), round(box[1]), round(box[2]), round(box[3])))


def materialization(driver: WebDriver, url: str, path: Path) -> None:
    """`silver/plays` > Events: the latest event (last partition of the last run), down to its tags."""
    _open(driver, url, "/assets/silver/plays?view=events", 1750, 2200)
    _wait_for_text(driver, "items_excluded")
    tags = driver.find_element(By.XPATH, "//*[starts-with(normalize-space(text()), 'Show tags')]")
    width = driver.execute_script("return window.innerWidth;")
    _save(driver, path, (0, 0, width, round(tags.rect["y"] + tags.rect["height"] + 24)))


def checks(driver: WebDriver, url: str, path: Path) -> None:
    """`gold/fact_recently_played` > Checks: the list, and the first check's description and latest result."""
    _open(driver, url, "/assets/gold/fact_recently_played?view=checks", 1500, 1000)
    _wait_for_text(driver, "Latest execution")
    _wait_for_text(driver, "Passed")
    _save(driver, path, (0, 0, 1500, 760))


def report(driver: WebDriver, url: str, path: Path) -> None:
    """`report/listening` > Events > `report` [Show Markdown]: the dialog with the report and its charts."""
    _open(driver, url, "/assets/report/listening?view=events", 1000, 1200)
    wait_until(lambda: _click_link(driver, "[Show Markdown]"), 90, "the report's [Show Markdown] link")
    _wait_for_text(driver, "Listening on")
    dialog = driver.find_element(By.CSS_SELECTOR, ".bp5-dialog")
    driver.set_window_size(1000, round(dialog.rect["height"]) + 400)
    wait_until(lambda: button(driver, "Close"), 30, "the dialog's Close button")
    wait_until(
        lambda: driver.execute_script("return [...document.images].every(i => i.complete);"), 30, "the charts"
    )
    time.sleep(SETTLE)
    dialog = driver.find_element(By.CSS_SELECTOR, ".bp5-dialog")
    rect = dialog.rect
    _save(driver, path, (round(rect["x"]), round(rect["y"]),
                         round(rect["x"] + rect["width"]), round(rect["y"] + rect["height"])))  # fmt: skip


def _click_link(driver: WebDriver, text: str) -> bool:
    """Click the first link whose text is `text`; whether there was one."""
    links = driver.find_elements(By.XPATH, f"//a[normalize-space(text())='{text}']")
    if links:
        links[0].click()
    return bool(links)


SHOTS: dict[str, Callable[[WebDriver, str, Path], None]] = {
    "ui-lineage.png": lineage,
    "ui-materialization.png": materialization,
    "ui-checks.png": checks,
    "ui-report.png": report,
}
