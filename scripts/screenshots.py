"""Regenerate the docs' screenshots (docs/ui-*.png): `dagster dev` on two weeks of the sample source, in
headless Chromium. Run from the repository's root: `make screenshots` (or `python -m scripts.screenshots`).

Everything runs in a temporary folder (DAGSTER_HOME, lake, embedded PostgreSQL) that is removed at the end,
after `dagster dev` and the embedded PostgreSQL are stopped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from selenium.webdriver.remote.webdriver import WebDriver

from scripts.screenshot_pages import SHOTS
from spotify_assets.contracts.settings import Settings
from spotify_assets.operations.demo import demo_partition_range
from spotify_assets_tests.browser import headless_chromium, missing_browser
from spotify_assets_tests.dagster_ui import DagsterDev

DOCS = Path(__file__).resolve().parent.parent / "docs"
DAYS = 14
LAST_RUN_DAYS = 3  # the materialization screenshot shows one partition of a three-day run


def sample_env(folder: Path) -> dict[str, str]:
    """A user's shell on the sample source, all of it under `folder`: no Spotify, database or S3 setting."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SPOTIFY_", "DB_", "S3_"))}
    env.update(
        DAGSTER_HOME=str(folder / "dagster_home"),
        LAKE_DIR=str(folder / "lake"),
        EMBEDDED_PG_DIR=str(folder / "postgres"),
        SPOTIFY_SOURCE="sample",
    )
    (folder / "dagster_home").mkdir()
    return env


def run_step(what: str, command: list[str], folder: Path, env: dict[str, str]) -> None:
    """Run `python -m <command>` in `folder`; print one line, or the output's end and exit on failure."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", *command], cwd=folder, env=env, capture_output=True, text=True, timeout=900
    )
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-5000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"{what} failed (exit {result.returncode})")
    print(f"{what} [{time.monotonic() - started:.1f}s]", flush=True)


def materialize(first: date, last: date, folder: Path, env: dict[str, str]) -> None:
    """Materialize the whole graph for `first`..`last` as one run, as docs/cli.md's command line does."""
    command = ["dagster", "asset", "materialize", "-m", "spotify_assets.definitions", "--select", "*",
               "--partition-range", f"{first}...{last}"]  # fmt: skip
    run_step(f"Materialized {first}...{last}", command, folder, env)


def take_screenshots(url: str) -> None:
    """Open each page in a fresh headless Chromium and write its PNG into docs/."""
    for name, shoot in SHOTS.items():
        driver: WebDriver = headless_chromium(1600, 1200)
        try:
            shoot(driver, url, DOCS / name)
        finally:
            driver.quit()
        print(f"Wrote docs/{name}", flush=True)


def main() -> int:
    """Set up the sample install, start `dagster dev`, take the screenshots, stop everything."""
    if reason := missing_browser():
        print(reason, file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="spotify-assets-screenshots-") as name:
        folder = Path(name)
        env = sample_env(folder)
        first, last = (date.fromisoformat(d) for d in demo_partition_range(Settings.from_mapping(env), DAYS))
        split = last - timedelta(days=LAST_RUN_DAYS)
        try:
            run_step("Wrote the Dagster instance", ["spotify_assets.operations.cli", "instance"], folder, env)
            materialize(first, split, folder, env)
            materialize(split + timedelta(days=1), last, folder, env)
            server = DagsterDev(cwd=folder, env=env, log_path=folder / "dagster_dev.log")
            try:
                server.wait_until_ready()
                take_screenshots(server.url)
            finally:
                server.stop()
        finally:
            run_step(
                "Stopped the embedded PostgreSQL",
                ["spotify_assets.operations.cli", "stop-postgres"],
                folder,
                env,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
