"""What the UI shows says what it measured: check texts, the report's average day, per-partition metadata."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from spotify_assets.contracts.tables import DIM_ARTIST, PLAYS
from spotify_assets.storage.lake import LakeResource
from spotify_assets_tests.helpers import make_settings, materialize, warehouse_tables

FIRST, LAST = date(2025, 5, 1), date(2025, 5, 7)
DAYS = [(FIRST + timedelta(days=n)).isoformat() for n in range((LAST - FIRST).days + 1)]


@pytest.fixture()
def week(tmp_path, clean_warehouse):
    """One single run of the whole graph over seven days, with the lake and warehouse it wrote."""
    settings = make_settings(tmp_path, clean_warehouse)
    result = materialize(settings, FIRST, LAST)
    return result, LakeResource(local_dir=settings.lake_dir), warehouse_tables(clean_warehouse)


@pytest.mark.slow
def test_check_texts_say_what_rows_they_counted(week):
    result, lake, tables = week
    checks = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}

    # A dimension's uniqueness is checked within each day's rows: the text says so and counts those rows,
    # which add up to more than the table holds (an artist is in many days).
    artists = lake.read_table_partitions(["gold", "dim_artist"], DAYS, DIM_ARTIST)
    summed = sum(len(frame) for frame in artists.values())
    assert summed > len(tables["gold.dim_artist"])
    unique = checks[("gold/dim_artist", "unique_key")].description
    assert (
        unique
        == f"(artist_key) is unique within each partition of {summed} rows across {len(DAYS)} partitions"
    )
    plays = sum(len(f) for f in lake.read_table_partitions(["silver", "plays"], DAYS, PLAYS).values())
    assert checks[("silver/plays", "valid_values")].description.endswith(
        f"in {plays} rows across {len(DAYS)} partitions"
    )


@pytest.mark.slow
def test_the_reports_average_day_is_over_the_days_with_plays(week):
    result, _, tables = week
    fact = tables["gold.fact_recently_played"]
    report = next(
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "report/listening" and e.partition == DAYS[-1]
    ).materialization.metadata
    days_with_plays = fact["extraction_date"].nunique()
    hours = fact["hour_of_day"].value_counts()
    assert report["window_plays_by_hour"].value == [
        round(int(hours.get(hour, 0)) / days_with_plays, 2) for hour in range(24)
    ]
    assert report["window_days_with_plays"].value == days_with_plays == len(DAYS)


@pytest.mark.slow
def test_a_partitions_event_holds_its_own_values(week):
    result, lake, tables = week
    fact = tables["gold.fact_recently_played"]
    events = {
        e.partition: e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "gold/fact_recently_played"
    }
    fact_rows = fact.groupby("extraction_date").size()
    for day, metadata in events.items():
        uri = lake.uri(lake.table_path(["gold", "fact_recently_played"], day))
        assert metadata["lake_uri"].value == uri, day
        assert metadata["dagster/partition_row_count"].value == fact_rows[date.fromisoformat(day)]
        assert "rows_written" not in metadata and "lake_object_count" not in metadata, day
    last = events[DAYS[-1]]
    assert last["range/rows_written"].value == len(fact)
    assert last["range/partitions"].value == f"{DAYS[0]} .. {DAYS[-1]} ({len(DAYS)} partitions)"
    assert last["dagster/row_count"].value == len(fact)  # the table's count(*) after the run
    assert all("range/rows_written" not in events[day] for day in DAYS[:-1])
