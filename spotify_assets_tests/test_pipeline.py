"""The whole graph end to end on real storage: embedded PostgreSQL, a local or S3 (moto over HTTP) lake."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from spotify_assets.contracts import day_batches
from spotify_assets.contracts.day_batches import BATCH_DAYS
from spotify_assets.contracts.tables import GOLD_TABLES, PLAYS
from spotify_assets.report.charts import CHARTS
from spotify_assets.sources.sample import generate_recently_played
from spotify_assets.transforms import silver as silver_transforms
from spotify_assets_tests.fixtures_postgres import drop_warehouse_schemas
from spotify_assets_tests.helpers import (
    lake_digest,
    make_s3_settings,
    make_settings,
    materialize,
    warehouse_tables,
)

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

DAY = date(2025, 3, 14)
ASSET_KEYS = [
    ["raw", "recently_played"],
    ["silver", "plays"],
    *[[spec.schema, spec.name] for spec in GOLD_TABLES],
]


def independent_counts(days: list[date]) -> dict[str, int]:
    """Entities counted straight from the sample items, without the project's transforms."""
    items = [item for day in days for item in generate_recently_played(day, "UTC")]
    tracks, albums, artists, pairs = set(), set(), set(), set()
    for item in items:
        track = item["track"]
        track_id = track["id"] or track["uri"]
        tracks.add(track_id)
        albums.add(track["album"]["id"] or ("local", track["album"]["name"].casefold()))
        for artist in track["artists"]:
            artists.add(artist["id"] or ("local", artist["name"].casefold()))
            pairs.add((track_id, artist["id"] or artist["name"].casefold()))
        for artist in track["album"]["artists"]:
            artists.add(artist["id"] or ("local", artist["name"].casefold()))
    return {
        "silver.plays": len({(i["played_at"], i["track"]["uri"]) for i in items}),
        "gold.fact_recently_played": len(items),
        "gold.dim_track": len(tracks),
        "gold.dim_album": len(albums),
        "gold.dim_artist": len(artists),
        "gold.bridge_track_artist": len(pairs),
        "gold.dim_date": len(days),
    }


def test_definitions_load_and_follow_the_conventions():
    from spotify_assets.definitions import defs

    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {tuple(key.path) for key in graph.get_all_asset_keys()}
    assert {tuple(key) for key in ASSET_KEYS} <= keys
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition), key
        assert node.backfill_policy == dg.BackfillPolicy.single_run(), key
        assert node.group_name == key.path[0], key
        assert node.description, key
    schedules = {schedule.name for schedule in defs.schedules}
    assert schedules == {"medallion_daily_schedule", "raw_capture_intraday_schedule"}


def test_two_days_end_to_end_match_the_source(tmp_path, clean_warehouse):
    settings = make_settings(tmp_path, clean_warehouse)
    days = [DAY, DAY + timedelta(days=1)]
    for day in days:
        materialize(settings, day)
    tables = warehouse_tables(clean_warehouse)
    expected = independent_counts(days)
    assert {name: len(tables[name]) for name in expected} == expected
    fact = tables["gold.fact_recently_played"]
    assert set(fact["track_key"]) <= set(tables["gold.dim_track"]["track_key"])
    assert set(fact["primary_artist_key"]) <= set(tables["gold.dim_artist"]["artist_key"])
    assert set(fact["album_key"]) <= set(tables["gold.dim_album"]["album_key"])
    assert sorted(set(fact["extraction_date"])) == days
    lake_files = set(lake_digest(Path(settings.lake_dir)))
    for day in days:
        assert f"raw/recently_played/extraction_date={day}/recently_played.json" in lake_files
        assert f"silver/plays/extraction_date={day}/plays.parquet" in lake_files
        for spec in GOLD_TABLES:
            assert f"gold/{spec.name}/extraction_date={day}/{spec.name}.parquet" in lake_files


def test_rematerializing_a_day_changes_nothing(tmp_path, clean_warehouse):
    settings = make_settings(tmp_path, clean_warehouse)
    neighbour = DAY - timedelta(days=1)
    materialize(settings, neighbour)
    materialize(settings, DAY)
    first_tables = warehouse_tables(clean_warehouse)
    first_lake = lake_digest(Path(settings.lake_dir))
    for _ in range(3):
        materialize(settings, DAY)
    again = warehouse_tables(clean_warehouse)
    for name, frame in first_tables.items():
        pd.testing.assert_frame_equal(again[name], frame, obj=name)
    assert lake_digest(Path(settings.lake_dir)) == first_lake
    plays = again["silver.plays"]
    assert len(plays[plays["extraction_date"] == neighbour]) == len(
        generate_recently_played(neighbour, "UTC")
    )


@pytest.fixture(scope="module")
def three_days_one_by_one(
    tmp_path_factory, postgres_resource
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The warehouse tables and the lake after DAY and the two days after it, each day its own run (a day is
    one batch whatever the batch size: both range runs below compare with these)."""
    drop_warehouse_schemas(postgres_resource)
    settings = make_settings(tmp_path_factory.mktemp("by_day"), postgres_resource)
    for offset in range(3):
        materialize(settings, DAY + timedelta(days=offset))
    return warehouse_tables(postgres_resource), lake_digest(Path(settings.lake_dir))


@pytest.mark.parametrize("batch_days", [BATCH_DAYS, 2], ids=["one_batch", "batches_of_2_days"])
def test_a_range_in_one_run_equals_the_days_one_by_one(
    tmp_path, three_days_one_by_one, clean_warehouse, monkeypatch, batch_days
):
    monkeypatch.setattr(day_batches, "BATCH_DAYS", batch_days)
    first, last = DAY, DAY + timedelta(days=2)
    by_day, by_day_lake = three_days_one_by_one

    range_settings = make_settings(tmp_path / "range", clean_warehouse)
    result = materialize(range_settings, first, last)
    assert len(result.get_asset_materialization_events()) >= len(ASSET_KEYS)
    in_one_run = warehouse_tables(clean_warehouse)
    for name, frame in by_day.items():
        pd.testing.assert_frame_equal(in_one_run[name], frame, obj=name)
    assert lake_digest(Path(range_settings.lake_dir)) == by_day_lake


def test_row_count_metadata_equals_the_warehouse(tmp_path, clean_warehouse):
    settings = make_settings(tmp_path, clean_warehouse)
    result = materialize(settings, DAY)
    tables = warehouse_tables(clean_warehouse)
    for event in result.get_asset_materialization_events():
        key = ".".join(event.asset_key.path)
        if key in tables:
            metadata = event.materialization.metadata
            assert metadata["dagster/row_count"].value == len(tables[key]), key
            assert "lake_uri" in metadata, key


def test_s3_lake_end_to_end(tmp_path, clean_warehouse, s3_lake):
    settings = make_s3_settings(tmp_path, clean_warehouse, s3_lake)
    materialize(settings, DAY)
    materialize(settings, DAY)
    keys = set(s3_lake.list_keys(""))
    expected = {
        f"raw/recently_played/extraction_date={DAY}/recently_played.json",
        f"raw/streaming_history/extraction_date={DAY}/streaming_history.json",
        f"silver/plays/extraction_date={DAY}/plays.parquet",
        *(f"gold/{spec.name}/extraction_date={DAY}/{spec.name}.parquet" for spec in GOLD_TABLES),
        *(f"report/listening/extraction_date={DAY}/{chart}.png" for chart in CHARTS),
    }
    assert {key.removeprefix(f"{s3_lake.prefix}/") for key in keys} == expected
    assert not (tmp_path / "lake").exists()
    tables = warehouse_tables(clean_warehouse)
    assert len(tables["silver.plays"]) == independent_counts([DAY])["silver.plays"]
    assert len(tables[PLAYS.qualified_name]) == len(tables["gold.fact_recently_played"])


def test_a_batch_failing_mid_range_leaves_the_warehouse_as_it_was(tmp_path, clean_warehouse, monkeypatch):
    first, last = DAY, DAY + timedelta(days=2)
    settings = make_settings(tmp_path, clean_warehouse)
    materialize(settings, first, last)
    before = warehouse_tables(clean_warehouse)
    lake_before = lake_digest(Path(settings.lake_dir))

    monkeypatch.setattr(day_batches, "BATCH_DAYS", 1)  # each day its own batch: the last one fails
    flatten = silver_transforms.flatten_recently_played

    def flatten_failing_on_the_last_day(items, *args, **kwargs):
        if any(item["played_at"].startswith(last.isoformat()) for item in items):
            raise ValueError(f"unreadable plays on {last}")
        frame = flatten(items, *args, **kwargs)
        return frame.assign(track_name=frame["track_name"] + " (rerun)")  # rows a commit would show

    monkeypatch.setattr(silver_transforms, "flatten_recently_played", flatten_failing_on_the_last_day)
    result = materialize(settings, first, last, raise_on_error=False)

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "silver__plays"
    assert f"unreadable plays on {last}" in str(failure.event_specific_data.error)
    after = warehouse_tables(clean_warehouse)
    for name, frame in before.items():  # one transaction: the batches before the failure were rolled back
        pd.testing.assert_frame_equal(after[name], frame, obj=name)
    # As documented, the lake objects of the batches before the failure hold their new rows; the rest stay.
    lake_after = lake_digest(Path(settings.lake_dir))
    silver = "silver/plays/extraction_date={}/plays.parquet"
    assert lake_after[silver.format(first)] != lake_before[silver.format(first)]
    assert lake_after[silver.format(last)] == lake_before[silver.format(last)]
    assert {k: v for k, v in lake_after.items() if not k.startswith("silver/")} == {
        k: v for k, v in lake_before.items() if not k.startswith("silver/")
    }


def test_every_stored_output_names_its_io_manager():
    """Raw through the lake IO manager, silver and gold through the lakehouse one, named on each asset; the
    report stores no output (it returns a MaterializeResult), and no bare `io_manager` is bound."""
    from spotify_assets.definitions import defs

    expected = {"raw": "lake_io_manager", "silver": "lakehouse_io_manager", "gold": "lakehouse_io_manager"}
    keys = {}
    for assets_def in defs.assets or []:
        assert isinstance(assets_def, dg.AssetsDefinition)
        for key in assets_def.keys:
            keys[key.to_user_string()] = assets_def.get_io_manager_key_for_asset_key(key)
    stored = {name: manager for name, manager in keys.items() if not name.startswith("report/")}
    assert stored == {name: expected[name.split("/")[0]] for name in stored}
    assert set(stored.values()) <= set(defs.resources or {})
    assert "io_manager" not in (defs.resources or {})
