"""A long rate limit through the entry point users run: `dagster asset materialize` fails at once."""

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from spotify_assets_tests.fake_spotify import (
    CLIENT_SECRET,
    RECENTLY_PLAYED,
    fake_settings,
    hang,
    rate_limited,
    seed_token_file,
    synthetic_play,
)
from spotify_assets_tests.helpers import user_shell_env

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

DAY = "2026-03-02"


def cli_env(tmp_path, warehouse, fake) -> dict[str, str]:
    """A user's shell for the live source: a DAGSTER_HOME, the embedded stack, credentials and a token."""
    settings = fake_settings(fake, tmp_path)
    seed_token_file(settings)
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    fake.items = [synthetic_play(start + timedelta(minutes=4 * n), n) for n in range(10)]
    return user_shell_env(
        tmp_path,
        warehouse,
        SPOTIFY_SOURCE="live",
        SPOTIFY_CLIENT_ID=str(settings.spotify_client_id),
        SPOTIFY_CLIENT_SECRET=CLIENT_SECRET,
        SPOTIFY_API_BASE_URL=settings.spotify_api_base_url,
        SPOTIFY_ACCOUNTS_BASE_URL=settings.spotify_accounts_base_url,
        SPOTIFY_TOKEN_FILE=settings.spotify_token_file,
    )


COMMAND = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "spotify_assets.definitions",
               "--select", "raw/recently_played", "--partition", DAY]  # fmt: skip


def test_a_long_rate_limit_fails_the_cli_run_within_a_minute_and_writes_nothing(
    tmp_path, clean_warehouse, fake_spotify
):
    env = cli_env(tmp_path, clean_warehouse, fake_spotify)
    fake_spotify.script(RECENTLY_PLAYED, *[rate_limited(7200)] * 10)
    result = subprocess.run(COMMAND, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    ended = time.monotonic()

    assert result.returncode != 0
    (refused,) = fake_spotify.requests_to(RECENTLY_PLAYED)
    waited = ended - refused.received_at  # what a start-up on a busy machine costs is not counted
    assert waited < 60, f"the run went on {waited:.0f} s after Spotify's 429 (Retry-After 7200 s)"
    assert "Retry-After asks to wait 7200 s" in result.stdout + result.stderr
    assert len(fake_spotify.requests_to(RECENTLY_PLAYED)) == 1, "no retry of a long rate limit"
    assert not list((tmp_path / "lake").rglob("*.json")), "nothing written to raw"
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.FAILURE
        event_types = {record.event_log_entry.dagster_event_type for record in instance.get_records_for_run(
            run.run_id
        ).records}  # fmt: skip
        assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in event_types
        assert dg.DagsterEventType.STEP_FAILURE in event_types


@pytest.mark.parametrize(
    ("sig", "answer"),
    [
        (signal.SIGINT, hang(60)),  # Ctrl-C while Spotify does not answer
        (signal.SIGTERM, hang(60)),
        (signal.SIGTERM, rate_limited(50)),  # while the client waits out a Retry-After under the cap
    ],
)
def test_ctrl_c_or_sigterm_ends_a_cli_run_at_once(tmp_path, clean_warehouse, fake_spotify, sig, answer):
    env = cli_env(tmp_path, clean_warehouse, fake_spotify)
    fake_spotify.script(RECENTLY_PLAYED, *[answer] * 10)
    process = subprocess.Popen(
        COMMAND, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while not fake_spotify.requests_to(RECENTLY_PLAYED) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)  # inside the wait
    assert fake_spotify.requests_to(RECENTLY_PLAYED), "the run never reached Spotify"

    process.send_signal(sig)
    began = time.monotonic()
    try:
        process.wait(timeout=30)
    finally:
        process.kill()
    assert time.monotonic() - began < 30, "the run waited for Spotify's answer (50-60 s) after the signal"
    assert process.returncode != 0
    assert not list((tmp_path / "lake").rglob("*.json")), "nothing written to raw"
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        (run,) = instance.get_runs()
        assert run.status in (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE)
