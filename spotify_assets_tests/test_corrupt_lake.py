"""A corrupt or wrong-shaped lake object fails naming its uri and its day, whatever went wrong reading it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from spotify_assets.contracts.tables import PLAYS
from spotify_assets.definitions import build_definitions
from spotify_assets.storage.lake import LakeObjectError, LakeResource
from spotify_assets_tests.helpers import make_settings, materialize
from spotify_assets_tests.lake_frames import DAY, plays_frame

SILVER = ["silver", "plays"]
RAW = ["raw", "recently_played"]
RAW_FILE = "recently_played.json"


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> LakeResource:
    if request.param == "local":
        return LakeResource(local_dir=str(tmp_path / "lake"))
    return request.getfixturevalue("s3_lake")


def flip_bytes(data: bytes) -> bytes:
    """The object with a run of bytes in the middle of its first data page inverted."""
    middle = len(data) // 3
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]


def test_flipped_bytes_in_a_table_object_name_it_and_the_day(lake: LakeResource):
    lake.write_table_partitions(SILVER, {DAY: plays_frame(DAY, 200)}, PLAYS)
    key = lake.table_path(SILVER, DAY)
    lake.write_bytes(key, flip_bytes(lake.read_bytes(key)))
    with pytest.raises(
        LakeObjectError, match=rf"{lake.uri(key)} is not a valid parquet table \(partition {DAY}\)"
    ):
        lake.read_table_partitions(SILVER, [DAY], PLAYS)


def test_a_table_object_missing_non_null_columns_names_them(lake: LakeResource, tmp_path: Path):
    lake.write_table_partitions(SILVER, {DAY: plays_frame(DAY, 3)}, PLAYS)
    key = lake.table_path(SILVER, DAY)
    local = tmp_path / "partial.parquet"
    local.write_bytes(lake.read_bytes(key))
    pq.write_table(pq.read_table(local).drop_columns(["played_at", "track_key", "album_name"]), local)
    lake.write_bytes(key, local.read_bytes())
    with pytest.raises(
        LakeObjectError, match=rf"{lake.uri(key)} .*partition {DAY}.*\['played_at', 'track_key'\]"
    ):
        lake.read_table_partitions(SILVER, [DAY], PLAYS)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"5", "expected a JSON object, found int 5"),
        (b'[{"played_at": "2026-11-27T10:00:00Z"}]', "expected a JSON object, found list"),
        (b'{"items": 5}', "'items' must be a list, found int 5"),
        (b'{"items": {"a": 1}}', "'items' must be a list, found dict"),
    ],
)
def test_a_wrong_shaped_raw_object_names_it_and_the_day(lake: LakeResource, data: bytes, problem: str):
    key = lake.partition_path(RAW, DAY, RAW_FILE)
    lake.write_bytes(key, data)
    with pytest.raises(LakeObjectError, match=rf"{lake.uri(key)} .*\(partition {DAY}\): {problem}"):
        lake.read_json_partition(RAW, RAW_FILE, DAY)


def test_a_wrong_shaped_history_object_names_it_and_the_day(lake: LakeResource):
    path = ["raw", "streaming_history"]
    key = lake.partition_path(path, DAY, "streaming_history.json")
    lake.write_bytes(key, b'{"extended_history": 5}')
    problem = "'extended_history' must be a list, found int 5"
    with pytest.raises(LakeObjectError, match=rf"{lake.uri(key)} .*\(partition {DAY}\): {problem}"):
        lake.read_json_partition(path, "streaming_history.json", DAY)


@pytest.mark.slow
def test_an_object_that_cannot_be_read_names_it_and_the_day(tmp_path: Path):
    lake = LakeResource(local_dir=str(tmp_path / "lake"))
    key = lake.table_path(SILVER, DAY)
    (tmp_path / "lake" / key).mkdir(parents=True)  # a folder where the object should be
    with pytest.raises(LakeObjectError, match=rf"{lake.uri(key)} cannot be read \(partition {DAY}\)"):
        lake.read_table_partitions(SILVER, [DAY], PLAYS)


def run_group(settings, group: str, day: date) -> dg.ExecuteInProcessResult:
    defs = build_definitions(settings)
    return dg.materialize(
        [*defs.assets],
        selection=dg.AssetSelection.groups(group),
        resources=defs.resources,
        partition_key=day.isoformat(),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def failure_messages(result) -> list[str]:
    return [
        str(e.event_specific_data.error) for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    ]


@pytest.mark.slow
def test_a_corrupt_silver_object_fails_gold_naming_the_object_and_the_day(tmp_path, clean_warehouse):
    day = date(2025, 3, 12)
    settings = make_settings(tmp_path, clean_warehouse)
    materialize(settings, day)
    lake = LakeResource(local_dir=settings.lake_dir)
    key = lake.table_path(SILVER, day.isoformat())
    lake.write_bytes(key, flip_bytes(lake.read_bytes(key)))

    # Only gold: silver must not rewrite the object first.
    result = run_group(settings, "gold", day)
    assert not result.success
    messages = failure_messages(result)
    assert messages and all(lake.uri(key) in m and f"partition {day}" in m for m in messages), messages


def test_a_wrong_shaped_raw_object_fails_silver_naming_the_object_and_the_day(tmp_path, clean_warehouse):
    day = date(2025, 3, 12)
    settings = make_settings(tmp_path, clean_warehouse)
    lake = LakeResource(local_dir=settings.lake_dir)
    key = lake.partition_path(RAW, day.isoformat(), RAW_FILE)
    lake.write_bytes(key, b"5")
    result = run_group(settings, "silver", day)  # silver reads the raw object the raw asset would merge into
    assert not result.success
    messages = failure_messages(result)
    assert messages and all(lake.uri(key) in m and f"partition {day}" in m for m in messages), messages
