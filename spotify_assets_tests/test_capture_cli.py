"""A long rate limit through the entry point users run: `dagster asset materialize` fails at once."""

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import dagster as dg

from spotify_assets_tests.fake_spotify import (
    RECENTLY_PLAYED,
    fake_settings,
    rate_limited,
    seed_token_file,
    synthetic_play,
)

DAY = "2026-03-02"


def test_a_long_rate_limit_fails_the_cli_run_within_a_minute_and_writes_nothing(
    tmp_path, clean_warehouse, fake_spotify
):
    settings = fake_settings(fake_spotify, tmp_path)
    seed_token_file(settings)
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    fake_spotify.items = [synthetic_play(start + timedelta(minutes=4 * n), n) for n in range(10)]
    fake_spotify.script(RECENTLY_PLAYED, *[rate_limited(7200)] * 10)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SPOTIFY_", "DB_", "S3_"))}
    env.update(
        DAGSTER_HOME=str(dagster_home),
        LAKE_DIR=str(tmp_path / "lake"),
        EMBEDDED_PG_DIR=clean_warehouse.embedded_dir,
        SPOTIFY_SOURCE="live",
        SPOTIFY_CLIENT_ID=settings.spotify_client_id,
        SPOTIFY_CLIENT_SECRET=settings.spotify_client_secret,
        SPOTIFY_API_BASE_URL=settings.spotify_api_base_url,
        SPOTIFY_ACCOUNTS_BASE_URL=settings.spotify_accounts_base_url,
        SPOTIFY_TOKEN_FILE=settings.spotify_token_file,
    )
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "spotify_assets.definitions",
               "--select", "raw/recently_played", "--partition", DAY]  # fmt: skip

    began = time.monotonic()
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - began

    assert result.returncode != 0
    assert elapsed < 60, f"the run took {elapsed:.0f} s"
    assert "Retry-After asks to wait 7200 s" in result.stdout + result.stderr
    assert len(fake_spotify.requests_to(RECENTLY_PLAYED)) == 1, "no retry of a long rate limit"
    assert not list((tmp_path / "lake").rglob("*.json")), "nothing written to raw"
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.FAILURE
        event_types = {record.event_log_entry.dagster_event_type for record in instance.get_records_for_run(
            run.run_id
        ).records}  # fmt: skip
        assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in event_types
        assert dg.DagsterEventType.STEP_FAILURE in event_types
