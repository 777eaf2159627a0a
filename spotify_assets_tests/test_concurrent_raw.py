"""Two runs of one raw partition at once lose nothing: the lake IO manager re-reads the stored object and
unites it with the run's items under a lock per (asset, month of days), from the read to the end of the
write."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pytest

from spotify_assets.assets.history import RAW_STREAMING_HISTORY
from spotify_assets.assets.raw import RAW_FILENAME, RAW_RECENTLY_PLAYED
from spotify_assets.contracts.raw_merge import merge_recently_played, merge_streaming_history
from spotify_assets.definitions import build_definitions
from spotify_assets.sources.history_resource import HistoryResource
from spotify_assets.storage.lake import LakeResource
from spotify_assets.storage.lake_io import LakeIOManager
from spotify_assets_tests.fake_spotify import RECENTLY_PLAYED, FakeResponse, synthetic_play
from spotify_assets_tests.fixtures_s3 import S3_REGION
from spotify_assets_tests.helpers import make_settings
from spotify_assets_tests.history_runs import export_copy, write_export

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

DAY = "2025-06-01"
RUNS = 2
_paused = threading.local()
_barrier = threading.Barrier(RUNS)


class PausingLake(LakeResource):
    """A lake whose first read of a raw partition in each thread (the asset's read of what is stored)
    waits until every run has made it: both runs then hold what they read, and write after it."""

    def read_json_partition(self, asset_path, filename, partition_key) -> Any:
        payload = super().read_json_partition(asset_path, filename, partition_key)
        if asset_path[0] == "raw" and not getattr(_paused, "done", False):
            _paused.done = True
            _barrier.wait(timeout=60)
        return payload


def page(items: list[dict]) -> FakeResponse:
    """One recently-played answer holding `items` (fewer than a full page: nothing more to ask for)."""
    ms = [
        int(datetime.fromisoformat(i["played_at"].replace("Z", "+00:00")).timestamp() * 1000) for i in items
    ]
    body = {
        "items": items,
        "next": None,
        "cursors": {"after": str(max(ms)), "before": str(min(ms))},
        "limit": 50,
    }
    return FakeResponse(200, body)


def capture(
    settings, lake: LakeResource, postgres, asset: dg.AssetKey = RAW_RECENTLY_PLAYED, **resources: Any
) -> list[str]:
    """One run of a raw asset (in this thread, with its own instance); returns its failures."""
    _paused.done = False
    defs = build_definitions(settings)
    io_manager = LakeIOManager(lake=lake, postgres=postgres)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [*defs.assets],
            selection=dg.AssetSelection.keys(asset),
            resources={**defs.resources, "lake": lake, "lake_io_manager": io_manager, **resources},
            partition_key=DAY,
            instance=instance,
            raise_on_error=False,
        )
        failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        messages = [str(e.event_specific_data.error.message) for e in failures]
        return messages + ([] if result.success else ["the run failed"])


@pytest.mark.parametrize("where", ["local", "s3"])
def test_two_runs_of_one_partition_at_once_keep_every_play(
    where, request, tmp_path, clean_warehouse, fake_spotify, live_env
):
    start = datetime.fromisoformat(DAY).replace(tzinfo=UTC)
    plays = [synthetic_play(start + timedelta(minutes=7 * n + 1), n) for n in range(20)]
    # Each run's capture finds 10 plays the other's does not (the API's window moved between them).
    fake_spotify.script(RECENTLY_PLAYED, page(plays[:10][::-1]), page(plays[10:][::-1]))
    if where == "local":
        lake = PausingLake(local_dir=str(tmp_path / "lake"))
    else:
        s3 = request.getfixturevalue("s3_lake")
        lake = PausingLake(
            bucket=s3.bucket, endpoint_url=s3.endpoint_url, prefix="lake", region_name=S3_REGION
        )
    settings = make_settings(tmp_path, clean_warehouse, spotify_source="live")

    with ThreadPoolExecutor(RUNS) as pool:
        failures = list(pool.map(lambda _: capture(settings, lake, clean_warehouse), range(RUNS)))

    assert failures == [[]] * RUNS
    _paused.done = True  # this thread's read below is no run's
    stored = lake.read_json_partition(RAW_RECENTLY_PLAYED.path, RAW_FILENAME, DAY)["items"]
    assert sorted(item["played_at"] for item in stored) == sorted(item["played_at"] for item in plays)
    assert [item["played_at"] for item in stored] == sorted((i["played_at"] for i in stored), reverse=True)
    assert {json.dumps(item, sort_keys=True) for item in stored} == {
        json.dumps(item, sort_keys=True) for item in plays
    }


def test_the_recently_played_merge_keeps_stored_objects_and_is_idempotent():
    start = datetime(2025, 6, 1, tzinfo=UTC)
    plays = [synthetic_play(start + timedelta(minutes=5 * n), n) for n in range(6)]
    stored = {"items": plays[3:][::-1]}
    written = {"items": plays[:4][::-1]}  # one play in common, written by the other run as a new object
    written["items"][0] = {**written["items"][0], "context": {"type": "playlist"}}
    merged = merge_recently_played(stored, written)
    assert [i["played_at"] for i in merged["items"]] == [p["played_at"] for p in plays[::-1]]
    common = next(i for i in merged["items"] if i["played_at"] == plays[3]["played_at"])
    assert common == plays[3]  # the stored object, as it was
    assert merge_recently_played(merged, merged) is merged  # nothing stored is lacking: written as it is
    assert merge_recently_played(None, written) is written


def test_the_history_merge_is_a_multiset_union_in_stop_time_order():
    def row(ts: str, track: str) -> dict:
        return {"ts": ts, "master_metadata_track_name": track, "ms_played": 1000}

    stored = {"extended_history": [row("2022-12-01T10:00:00Z", "a"), row("2022-12-01T10:00:00Z", "a")]}
    written = {"extended_history": [row("2022-12-01T09:00:00Z", "b"), row("2022-12-01T10:00:00Z", "a")]}
    merged = merge_streaming_history(stored, written)
    assert [(r["ts"], r["master_metadata_track_name"]) for r in merged["extended_history"]] == [
        ("2022-12-01T09:00:00Z", "b"),
        ("2022-12-01T10:00:00Z", "a"),
        ("2022-12-01T10:00:00Z", "a"),  # twice, as the stored object held it
    ]
    assert merge_streaming_history(merged, merged) is merged


def test_two_history_imports_of_one_day_at_once_keep_every_row(tmp_path, clean_warehouse):
    start = datetime.fromisoformat(DAY).replace(tzinfo=UTC)
    rows = [export_copy(synthetic_play(start + timedelta(minutes=7 * n + 1), n), 0) for n in range(20)]
    folders = [tmp_path / "export_a", tmp_path / "export_b"]  # two exports, ten rows of the day each
    for number, folder in enumerate(folders):
        write_export(folder, "Streaming_History_Audio_2025.json", rows[10 * number : 10 * number + 10])
    lake = PausingLake(local_dir=str(tmp_path / "lake"))
    settings = make_settings(tmp_path, clean_warehouse)

    def run(folder) -> list[str]:
        history = HistoryResource(folder=str(folder))
        return capture(settings, lake, clean_warehouse, RAW_STREAMING_HISTORY, history=history)

    with ThreadPoolExecutor(RUNS) as pool:
        failures = list(pool.map(run, folders))

    assert failures == [[]] * RUNS
    _paused.done = True
    stored = lake.read_json_partition(RAW_STREAMING_HISTORY.path, "streaming_history.json", DAY)
    assert sorted(row["ts"] for row in stored["extended_history"]) == sorted(row["ts"] for row in rows)
