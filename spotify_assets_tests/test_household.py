"""A household in one warehouse: several listeners captured, imported and built on their own, through the
schedules' own run requests and the jobs users run."""

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from spotify_assets.contracts.listener_scope import LISTENER_PARTITIONS, LISTENER_TAG
from spotify_assets.contracts.settings import Settings
from spotify_assets.definitions import build_definitions
from spotify_assets.sources.sample import generate_recently_played
from spotify_assets.sources.token_store import StoredToken, write_token_file
from spotify_assets_tests.fake_spotify import REFRESH_TOKEN, USER_ID, FakeSpotify, synthetic_play
from spotify_assets_tests.helpers import (
    lake_digest,
    make_s3_settings,
    make_settings,
    materialize,
    schedule_requests,
    warehouse_tables,
)

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

DAY = date(2026, 3, 9)


@pytest.fixture()
def instance(tmp_path):
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as test_instance:
        yield test_instance


def plays_by_listener(frame: pd.DataFrame) -> dict[str, int]:
    return dict(Counter(frame["listener_id"].astype(str)))


def sample_count(day: date, listener: str | None) -> int:
    return len(generate_recently_played(day, "UTC", seed=listener))


def listener_key(listener: str, day: date) -> str:
    return f"raw/recently_played/listener={listener}/extraction_date={day}/recently_played.json"


def test_two_listeners_each_get_their_own_raw_objects_and_rows(tmp_path, clean_warehouse, instance):
    settings = make_settings(tmp_path, clean_warehouse)
    instance.add_dynamic_partitions(LISTENER_PARTITIONS, ["alice"])
    days = [DAY, DAY + timedelta(days=1)]
    result = materialize(settings, days[0], days[-1], instance=instance)

    tables = warehouse_tables(clean_warehouse)
    expected = {
        "demo": sum(sample_count(day, None) for day in days),
        "alice": sum(sample_count(day, "alice") for day in days),
    }
    assert plays_by_listener(tables["silver.plays"]) == expected
    assert plays_by_listener(tables["gold.fact_recently_played"]) == expected
    lake = set(lake_digest(Path(settings.lake_dir)))
    for day in days:  # the default listener keeps the single-listener keys
        assert f"raw/recently_played/extraction_date={day}/recently_played.json" in lake
        assert listener_key("alice", day) in lake
    events = {
        event.partition: event.metadata
        for event in result.asset_materializations_for_node("raw__recently_played")
    }
    for day in days:
        counts = events[day.isoformat()]["listener_row_counts"].value
        assert counts == {"default": sample_count(day, None), "alice": sample_count(day, "alice")}
    shared = set(tables["gold.dim_track"]["track_key"])
    fact = tables["gold.fact_recently_played"]
    assert set(fact["track_key"]) <= shared  # one dimension for everyone

    before = {name: frame for name, frame in tables.items()}
    materialize(settings, days[1], instance=instance)  # a re-run of one day changes nothing
    instance.delete_dynamic_partition(LISTENER_PARTITIONS, "alice")  # removed: no longer captured...
    materialize(settings, days[0], instance=instance)  # ...but a rebuild keeps her plays
    again = warehouse_tables(clean_warehouse)
    for name in ("silver.plays", "gold.fact_recently_played", "gold.dim_track"):
        pd.testing.assert_frame_equal(again[name], before[name], obj=name)


def test_a_run_tagged_with_a_listener_captures_only_them(tmp_path, clean_warehouse, instance):
    settings = make_settings(tmp_path, clean_warehouse)
    instance.add_dynamic_partitions(LISTENER_PARTITIONS, ["alice", "bob"])
    defs = build_definitions(settings)
    job = defs.resolve_job_def("raw_capture")
    result = job.execute_in_process(
        instance=instance, partition_key=DAY.isoformat(), tags={LISTENER_TAG: "bob"}
    )
    assert result.success
    lake = set(lake_digest(Path(settings.lake_dir)))
    assert listener_key("bob", DAY) in lake
    assert listener_key("alice", DAY) not in lake
    assert f"raw/recently_played/extraction_date={DAY}/recently_played.json" not in lake

    unknown = job.execute_in_process(
        instance=instance, partition_key=DAY.isoformat(), tags={LISTENER_TAG: "carol"}, raise_on_error=False
    )
    assert not unknown.success
    failure = next(event for event in unknown.all_events if event.is_step_failure)
    assert "names no listener (known: default, alice, bob)" in failure.event_specific_data.error.to_string()


def test_five_listeners_end_to_end(tmp_path, clean_warehouse, instance):
    settings = make_settings(tmp_path, clean_warehouse)
    names = ["alice", "bob", "carol", "dave"]
    instance.add_dynamic_partitions(LISTENER_PARTITIONS, names)
    result = materialize(settings, DAY, instance=instance)
    tables = warehouse_tables(clean_warehouse)
    expected = {"demo": sample_count(DAY, None), **{name: sample_count(DAY, name) for name in names}}
    assert plays_by_listener(tables["gold.fact_recently_played"]) == expected
    (report,) = result.asset_materializations_for_node("report__listening")
    per_listener = report.metadata["listeners"].value
    assert {name: numbers["day_plays"] for name, numbers in per_listener.items()} == expected
    lake = Path(settings.lake_dir)
    for name in expected:
        assert list((lake / f"report/listening/listener={name}/extraction_date={DAY}").glob("*.png"))
    with clean_warehouse.connect() as conn:
        rows = conn.execute("SELECT listener_id, plays FROM bi.daily_listening WHERE date = %s", (DAY,))
        assert dict(rows.fetchall()) == expected


def test_an_export_is_imported_for_its_listener_only(tmp_path, clean_warehouse, instance, fixtures_dir):
    history = tmp_path / "exports"
    (history / "listener=alice").mkdir(parents=True)
    source = fixtures_dir / "account_data" / "StreamingHistory_music_0.json"
    (history / "listener=alice" / source.name).write_bytes(source.read_bytes())
    instance.add_dynamic_partitions(LISTENER_PARTITIONS, ["alice"])
    ended = pd.to_datetime(pd.read_json(source)["endTime"]).dt.date
    first, last = date(2023, 10, 3), date(2023, 10, 5)  # three days of the export (UTC)
    settings = make_settings(tmp_path, clean_warehouse, history_dir=str(history), partitions_start_date=first)
    materialize(settings, first, last, instance=instance)

    plays = warehouse_tables(clean_warehouse)["silver.plays"]
    from_exports = plays[plays["source"] != "recently_played"]
    assert plays_by_listener(from_exports) == {"alice": int(((ended >= first) & (ended <= last)).sum())}
    exported = set(zip(from_exports["played_at"], from_exports["track_name"], strict=True))
    recent = plays[plays["source"] == "recently_played"]  # the sample's own plays of both listeners
    assert set(recent["listener_id"]) == {"demo", "alice"}
    assert not exported & set(zip(recent["played_at"], recent["track_name"], strict=True))
    lake_dir = Path(settings.lake_dir)
    for key in lake_digest(lake_dir):  # the default listener's objects (HISTORY_DIR's own files) hold none
        if key.startswith("raw/streaming_history/") and "/listener=" not in key:
            assert not any(json.loads((lake_dir / key).read_text()).values()), key
    for day in (first, last):
        assert (lake_dir / f"raw/streaming_history/listener=alice/extraction_date={day}").is_dir()


def test_a_single_listener_install_keeps_its_history_when_a_listener_is_added(
    tmp_path, clean_warehouse, instance
):
    settings = make_settings(tmp_path, clean_warehouse)
    days = [DAY, DAY + timedelta(days=1)]
    materialize(settings, days[0], days[-1], instance=instance)
    before_lake = lake_digest(Path(settings.lake_dir))
    before = warehouse_tables(clean_warehouse)["gold.fact_recently_played"]

    instance.add_dynamic_partitions(LISTENER_PARTITIONS, ["alice"])
    materialize(settings, days[0], days[-1], instance=instance)

    after_lake = lake_digest(Path(settings.lake_dir))
    raw_before = {k: v for k, v in before_lake.items() if k.startswith("raw/")}
    assert {k: after_lake[k] for k in raw_before} == raw_before  # the old objects are the default listener's
    fact = warehouse_tables(clean_warehouse)["gold.fact_recently_played"]
    assert set(before["play_id"]) <= set(fact["play_id"])
    assert plays_by_listener(fact) == {
        "demo": len(before),
        "alice": sum(sample_count(day, "alice") for day in days),
    }


# -- isolation on the stand-in Spotify -----------------------------------------------------------------------


def listener_plays(day: date, count: int, offset_minutes: int) -> list[dict]:
    start = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=8, minutes=offset_minutes)
    return [synthetic_play(start + timedelta(minutes=7 * n), n + offset_minutes) for n in range(count)][::-1]


def test_a_revoked_listener_fails_only_their_own_runs(
    tmp_path, clean_warehouse, instance, fake_spotify: FakeSpotify, live_env
):
    token_dir = tmp_path / "tokens"
    settings = make_settings(
        tmp_path, clean_warehouse, spotify_source="live", spotify_token_dir=str(token_dir)
    )
    fake_spotify.items = listener_plays(DAY, 4, 0)
    tokens = {}
    for name, count in (("alice", 3), ("bob", 5)):
        tokens[name] = fake_spotify.issue_refresh_token(name)
        fake_spotify.user_items[name] = listener_plays(DAY, count, 1 + count)
        write_token_file(
            token_dir / f"{name}.json",
            StoredToken(refresh_token=tokens[name], user_id=name, authorized_at=datetime.now(UTC)),
        )
    fake_spotify.refused_users.add("alice")
    instance.add_dynamic_partitions(LISTENER_PARTITIONS, ["alice", "bob"])

    defs = build_definitions(settings)
    tick = datetime.combine(DAY, datetime.min.time(), UTC) + timedelta(hours=20)
    requests = schedule_requests(defs, "raw_capture_intraday_schedule", instance, tick)
    assert sorted(request.tags[LISTENER_TAG] for request in requests) == ["alice", "bob", "default"]
    outcomes = {}
    for request in requests:
        result = defs.resolve_job_def("raw_capture").execute_in_process(
            instance=instance, partition_key=request.partition_key, tags=request.tags, raise_on_error=False
        )
        outcomes[request.tags[LISTENER_TAG]] = result
    assert {name: result.success for name, result in outcomes.items()} == {
        "alice": False,
        "bob": True,
        "default": True,
    }
    failure = next(event for event in outcomes["alice"].all_events if event.is_step_failure)
    message = str(failure.event_specific_data.error.message)
    assert "invalid_grant" in message and "spotify-assets auth --listener alice" in message
    tokens["default"] = REFRESH_TOKEN
    for name, result in outcomes.items():  # no token reaches any run's logs, least of all another's
        logs = " ".join(
            str(record.dagster_event or "") + record.user_message
            for record in instance.all_logs(result.run_id)
        )
        assert not [token for token in tokens.values() if token in logs], name

    # The daily (household) run goes on with everyone it can capture, and flags the one it could not.
    daily = materialize(settings, DAY, instance=instance, raise_on_error=False)
    assert daily.success
    plays = warehouse_tables(clean_warehouse)["silver.plays"]
    assert plays_by_listener(plays) == {USER_ID: 4, "bob": 5}
    checks = {evaluation.check_name: evaluation for evaluation in daily.get_asset_check_evaluations()}
    captured = checks["every_listener_captured"]
    assert not captured.passed
    assert "alice" in captured.description


def test_each_listener_is_captured_from_their_own_last_capture(tmp_path, instance):
    settings = Settings(spotify_source="sample", partitions_start_date=date(2015, 1, 1))  # no run: no storage
    instance.add_dynamic_partitions(LISTENER_PARTITIONS, ["alice", "bob"])
    tick = datetime.combine(DAY, datetime.min.time(), UTC) + timedelta(hours=12)
    through = {"checked_through": tick - timedelta(hours=1), "checked_through/bob": tick - timedelta(days=3)}
    for key, moment in through.items():
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=["raw", "recently_played"],
                partition=DAY.isoformat(),
                metadata={key: dg.MetadataValue.timestamp(moment)},
            )
        )
    for _ in range(150):  # newer captures of others push bob's last one back beyond a first page
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=["raw", "recently_played"], partition=DAY.isoformat())
        )
    defs = build_definitions(settings)
    requests = schedule_requests(defs, "raw_capture_intraday_schedule", instance, tick)
    ranges = {}
    for request in requests:
        tags = request.tags
        first = request.partition_key or tags["dagster/asset_partition_range_start"]
        last = request.partition_key or tags["dagster/asset_partition_range_end"]
        ranges[tags[LISTENER_TAG]] = (first, last)
    today = DAY.isoformat()
    assert ranges == {
        "default": (today, today),
        "bob": ((DAY - timedelta(days=3)).isoformat(), today),
        "alice": ((DAY - timedelta(days=1)).isoformat(), today),  # never captured: from yesterday
    }


def test_a_household_on_the_s3_lake(tmp_path, clean_warehouse, s3_lake, instance):
    settings = make_s3_settings(tmp_path, clean_warehouse, s3_lake)
    instance.add_dynamic_partitions(LISTENER_PARTITIONS, ["alice"])
    materialize(settings, DAY, instance=instance)
    materialize(settings, DAY, instance=instance)
    keys = {key.removeprefix(f"{s3_lake.prefix}/") for key in s3_lake.list_keys("raw/recently_played/")}
    assert keys == {
        f"raw/recently_played/extraction_date={DAY}/recently_played.json",
        listener_key("alice", DAY),
    }
    plays = warehouse_tables(clean_warehouse)["silver.plays"]
    assert plays_by_listener(plays) == {"demo": sample_count(DAY, None), "alice": sample_count(DAY, "alice")}


def test_a_household_without_a_default_token_captures_only_its_listeners(tmp_path, instance, monkeypatch):
    monkeypatch.delenv("SPOTIFY_REFRESH_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    settings = Settings(
        spotify_source="live",
        spotify_token_file=str(tmp_path / "no_default_token.json"),
        partitions_start_date=date(2015, 1, 1),
    )
    instance.add_dynamic_partitions(LISTENER_PARTITIONS, ["alice"])
    defs = build_definitions(settings)
    tick = datetime.combine(DAY, datetime.min.time(), UTC) + timedelta(hours=12)
    requests = schedule_requests(defs, "raw_capture_intraday_schedule", instance, tick)
    assert [request.tags[LISTENER_TAG] for request in requests] == ["alice"]
