"""The live path through the whole graph: a local Spotify over HTTP, real storage, a real Dagster run."""

import copy
import json
import time
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from spotify_assets_tests.fake_spotify import (
    CLIENT_SECRET,
    REFRESH_TOKEN,
    synthetic_play,
)
from spotify_assets_tests.helpers import make_settings, materialize, warehouse_tables

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

FIRST, LAST = date(2017, 5, 26), date(2017, 5, 27)


@pytest.fixture()
def recorded_items(fixtures_dir):
    path = fixtures_dir / "recently_played" / "recently_played_2017_20items.json"
    return json.loads(path.read_text())["items"]


def live_settings(tmp_path, warehouse):
    return make_settings(tmp_path, warehouse, spotify_source="live")


def day_items(items, day: date):
    return [item for item in items if item["played_at"].startswith(day.isoformat())]


def test_recorded_response_flows_through_the_live_path_into_gold(
    tmp_path, clean_warehouse, fake_spotify, live_env, recorded_items
):
    fake_spotify.items = copy.deepcopy(recorded_items)
    materialize(live_settings(tmp_path, clean_warehouse), FIRST, LAST)
    tables = warehouse_tables(clean_warehouse)
    tracks = {item["track"]["id"] for item in recorded_items}
    artists = {
        a["id"]
        for item in recorded_items
        for a in item["track"]["artists"] + item["track"]["album"]["artists"]
    }
    albums = {item["track"]["album"]["id"] for item in recorded_items}
    pairs = {(item["track"]["id"], a["id"]) for item in recorded_items for a in item["track"]["artists"]}
    assert (len(tracks), len(artists), len(albums), len(pairs)) == (17, 12, 13, 17)
    assert len(tables["silver.plays"]) == len(tables["gold.fact_recently_played"]) == 20
    assert set(tables["gold.dim_track"]["track_id"]) == tracks
    assert set(tables["gold.dim_artist"]["artist_id"]) == artists
    assert set(tables["gold.dim_album"]["album_id"]) == albums
    assert len(tables["gold.bridge_track_artist"]) == len(pairs)
    assert set(tables["silver.plays"]["listener_id"]) == {fake_spotify.user_id}


def test_overlapping_runs_of_a_day_lose_nothing_and_double_nothing(
    tmp_path, clean_warehouse, fake_spotify, live_env, recorded_items
):
    settings = live_settings(tmp_path, clean_warehouse)
    day = day_items(recorded_items, LAST)  # newest first
    assert len(day) == 13
    fake_spotify.items = copy.deepcopy(day[5:])  # the morning's plays
    materialize(settings, LAST)
    fake_spotify.items = copy.deepcopy(day[:9])  # later: 4 plays seen before, 5 new
    materialize(settings, LAST)
    plays = warehouse_tables(clean_warehouse)["silver.plays"]
    assert len(plays) == 13
    assert not plays.duplicated(["played_at", "track_key"]).any()

    fake_spotify.items = []  # every play has aged out of the API's window
    result = materialize(settings, LAST)
    after = warehouse_tables(clean_warehouse)
    assert len(after["silver.plays"]) == len(after["gold.fact_recently_played"]) == 13
    raw_event = next(
        e for e in result.get_asset_materialization_events() if e.asset_key.path == ["raw", "recently_played"]
    )
    assert raw_event.materialization.metadata["new_items"].value == 0
    stored = json.loads(
        (
            tmp_path / "lake" / "raw" / "recently_played" / f"extraction_date={LAST}" / "recently_played.json"
        ).read_text()
    )
    assert [item["played_at"] for item in stored["items"]] == [item["played_at"] for item in day]


def test_a_full_window_that_misses_the_start_of_the_day_is_recorded_as_a_possible_gap(
    tmp_path, clean_warehouse, fake_spotify, live_env
):
    start = datetime(2017, 5, 27, 8, tzinfo=UTC)  # 70 plays a minute apart; the API keeps the last 50
    fake_spotify.items = [synthetic_play(start + timedelta(minutes=n), n) for n in reversed(range(70))]
    result = materialize(live_settings(tmp_path, clean_warehouse), LAST)
    raw_event = next(
        e for e in result.get_asset_materialization_events() if e.asset_key.path == ["raw", "recently_played"]
    )
    assert raw_event.materialization.metadata["possible_gap"].value is True
    assert raw_event.materialization.metadata["possible_gap_days"].value == LAST.isoformat()
    (gap_check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "no_possible_gap"]
    assert (gap_check.passed, gap_check.severity) == (False, dg.AssetCheckSeverity.WARN)  # the run succeeded


def test_invalid_grant_fails_at_once_and_writes_nothing(tmp_path, clean_warehouse, fake_spotify, live_env):
    fake_spotify.invalid_grant = True
    result = materialize(live_settings(tmp_path, clean_warehouse), LAST, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "spotify-assets auth" in str(failure.step_failure_data.error)
    assert not any(e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for e in result.all_events)
    assert len(fake_spotify.requests_to("/api/token")) == 1
    # raw/streaming_history (no HISTORY_DIR: an empty day) does not depend on Spotify and still runs.
    assert not any((tmp_path / "lake" / "raw" / "recently_played").rglob("*.json"))


def test_no_secret_reaches_dagster_logs_metadata_or_the_lake(
    tmp_path, clean_warehouse, fake_spotify, live_env, recorded_items
):
    fake_spotify.items = copy.deepcopy(recorded_items)
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(live_settings(tmp_path, clean_warehouse), FIRST, LAST, instance=instance)
    secrets = [CLIENT_SECRET, REFRESH_TOKEN, *fake_spotify.issued_access_tokens]
    assert len(secrets) >= 3
    logs = "\n".join(dg.serialize_value(entry) for entry in instance.all_logs(result.run_id))
    assert logs and "Bearer" not in logs
    lake_text = "\n".join(
        p.read_bytes().decode("latin-1") for p in (tmp_path / "lake").rglob("*") if p.is_file()
    )
    for secret in secrets:
        assert secret not in logs
        assert secret not in lake_text


def test_a_local_error_fails_the_capture_at_once_without_retries(
    tmp_path, clean_warehouse, fake_spotify, live_env, recorded_items
):
    fake_spotify.items = copy.deepcopy(recorded_items)
    stored = (
        tmp_path / "lake" / "raw" / "recently_played" / f"extraction_date={LAST}" / "recently_played.json"
    )
    stored.parent.mkdir(parents=True)
    stored.write_text('{"items": [', encoding="utf-8")  # a corrupt object: no retry can fix it
    began = time.monotonic()
    result = materialize(live_settings(tmp_path, clean_warehouse), LAST, raise_on_error=False)
    assert not result.success and time.monotonic() - began < 60
    assert not any(e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for e in result.all_events)
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "recently_played.json" in str(failure.step_failure_data.error)
    assert stored.read_text(encoding="utf-8") == '{"items": ['
