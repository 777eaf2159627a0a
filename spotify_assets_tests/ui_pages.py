"""What a user does in the Dagster UI, in a real browser: materialize one partition, read a run's status.

Each step looks its elements up afresh inside `wait_until`: the UI re-renders as its queries answer.
"""

from __future__ import annotations

import re

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from spotify_assets_tests.browser import button, open_ui, page_text, wait_until

LAUNCHED = re.compile(r"Launched run ([0-9a-f]{8})")
RUN_STATUSES = ("Queued", "Starting", "Started", "Success", "Failure", "Canceling", "Canceled")
DIALOG = ".bp5-dialog"


def _dialog(driver: WebDriver) -> WebElement | None:
    """The open dialog, if any."""
    found = driver.find_elements(By.CSS_SELECTOR, DIALOG)
    return found[0] if found else None


def _click(element: WebElement | None) -> bool:
    """Click `element` if there is one; whether it was clicked."""
    if element is None:
        return False
    element.click()
    return True


def _type_partition(driver: WebDriver, partition: str) -> bool:
    """Type `partition` into the dialog's partition selection and confirm it with Enter."""
    dialog = _dialog(driver)
    fields = dialog.find_elements(By.CSS_SELECTOR, "input[type=text]") if dialog else []
    if not fields:
        return False
    fields[0].click()
    fields[0].send_keys(partition, Keys.ENTER)
    return True


def materialize_partition(driver: WebDriver, base_url: str, asset_path: str, partition: str) -> str:
    """Open the asset's page, click Materialize, pick `partition` in the dialog, launch: the run's short id.

    `asset_path` is the key as the URL spells it (`raw/recently_played`).
    """
    open_ui(driver, base_url, f"/assets/{asset_path}")
    wait_until(lambda: _click(button(driver, "Materialize…")), 60, "the asset page's Materialize… button")
    wait_until(lambda: _type_partition(driver, partition), 30, "the Materialize dialog's partition selection")
    launch = "Launch 1 run"
    wait_until(lambda: _click(button(driver, launch)), 30, f"'{launch}' after picking {partition}")
    return wait_until(lambda: LAUNCHED.search(page_text(driver)), 60, "the 'Launched run' toast").group(1)


def _row_status(driver: WebDriver, short_id: str) -> tuple[str, str | None] | None:
    """The run's full id and the status its Runs-page row shows (None while none), or None if not listed."""
    link = f"//a[contains(@href, '/runs/{short_id}')]"
    rows = driver.find_elements(By.XPATH, f"//div[contains(@class, 'RunsFeedRow')][.{link}]")
    if not rows:
        return None
    href = rows[-1].find_element(By.XPATH, f".{link}").get_attribute("href") or ""
    status = next((cell for cell in rows[-1].text.splitlines() if cell in RUN_STATUSES), None)
    return href.rsplit("/", 1)[-1], status


def run_status_on_runs_page(driver: WebDriver, base_url: str, short_id: str) -> tuple[str, str | None]:
    """Open the Runs page: the run's full id and the status its row shows (None while it shows none)."""
    open_ui(driver, base_url, "/runs")
    return wait_until(lambda: _row_status(driver, short_id), 30, f"run {short_id} on the Runs page")
