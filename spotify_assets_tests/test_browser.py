"""The Dagster UI in a real browser (headless Chromium): materialize one partition by clicking."""

from __future__ import annotations

import dagster as dg
import pytest

from spotify_assets.contracts.settings import Settings
from spotify_assets.operations.demo import demo_partition_range
from spotify_assets_tests.browser import headless_chromium, missing_browser, wait_until
from spotify_assets_tests.dagster_ui import DagsterDev
from spotify_assets_tests.ui_pages import materialize_partition, run_status_on_runs_page

pytestmark = pytest.mark.slow  # starts dagster dev and a browser

FINISHED = ("Success", "Failure", "Canceled")
RAW = dg.AssetKey(["raw", "recently_played"])


def test_materialize_dialog_launches_a_run_that_succeeds(tmp_path, pipeline_env):
    if reason := missing_browser():
        pytest.fail(f"the browser test needs headless Chromium: {reason}")
    # yesterday: among the last 90 days, which the dialog lists
    day = demo_partition_range(Settings.from_mapping(pipeline_env), days=1)[1]
    server = DagsterDev(cwd=tmp_path, env=pipeline_env, log_path=tmp_path / "dagster_dev.log")
    try:
        server.wait_until_ready()
        driver = headless_chromium(1500, 1000)
        try:
            short_id = materialize_partition(driver, server.url, "raw/recently_played", day)

            def finished() -> tuple[str, str | None] | None:
                found = run_status_on_runs_page(driver, server.url, short_id)
                return found if found[1] in FINISHED else None

            run_id, status = wait_until(finished, 120, f"run {short_id} finished on the Runs page", poll=2)
        finally:
            driver.quit()
        assert status == "Success", (tmp_path / "dagster_dev.log").read_text()[-3000:]
        assert server.wait_for_run(run_id) == "SUCCESS"
    finally:
        server.stop()
    with dg.DagsterInstance.from_config(pipeline_env["DAGSTER_HOME"]) as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.tags["dagster/partition"] == day
        assert run.asset_selection == {RAW}
        assert instance.get_materialized_partitions(RAW) == {day}
