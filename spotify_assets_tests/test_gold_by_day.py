"""A batch of days built in one call gives each day exactly the rows its own plays give (`by_day`); a builder
read only the silver columns it names gives the rows all of them give."""

import json
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from spotify_assets.assets.gold_batches import build_days
from spotify_assets.contracts.export_formats import VIDEO
from spotify_assets.contracts.table_frames import conform, empty_frame, whole_frame
from spotify_assets.contracts.tables import PLAYS
from spotify_assets.sources.history import read_export_file
from spotify_assets.sources.sample import generate_recently_played
from spotify_assets.storage.lake import LakeResource
from spotify_assets.storage.lake_io import read_asset_input
from spotify_assets.transforms.gold import GOLD_BUILDERS, GoldBuilder
from spotify_assets.transforms.gold_inputs import GOLD_INPUTS, SILVER_COLUMNS
from spotify_assets.transforms.history import day_range, import_rows, plan_partitions
from spotify_assets.transforms.history_plays import history_plays, read_partitions
from spotify_assets.transforms.silver import flatten_recently_played

EXPORTS = [
    "extended_history/Streaming_History_Audio_2022.json",
    "account_data/StreamingHistory_music_0.json",
    "account_data/StreamingHistory_podcast_0.json",
]


def _history(fixtures_dir: Path, timezone: str) -> pd.DataFrame:
    files = [read_export_file(fixtures_dir / name) for name in EXPORTS]
    first, last = day_range([f for f in files if f.kind != VIDEO], timezone)
    days = [day.strftime("%Y-%m-%d") for day in pd.date_range(first, last)]
    plan = plan_partitions(import_rows(files, timezone, days), days, {})
    payloads = {day: json.loads(part.to_json_bytes()) for day, part in plan.payloads.items()}
    return history_plays(read_partitions(payloads.items()), "me").plays


def _recent(days: list[date], timezone: str) -> pd.DataFrame:
    frames = [
        flatten_recently_played(generate_recently_played(day, timezone, seed=listener), listener, timezone)
        for day in days
        for listener in ("me", "you")
    ]
    return pd.concat(frames, ignore_index=True)


def _span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@pytest.fixture(scope="module", params=["UTC", "Europe/Berlin"])
def batch(request: pytest.FixtureRequest, fixtures_dir: Path) -> tuple[pd.DataFrame, list[date], str]:
    """Silver plays of two stretches of days: the extended export's November and six sample days of two
    listeners (a day with none between them), and ten days of the account-data export; in day order."""
    timezone = request.param
    days = _span(date(2022, 11, 7), date(2022, 11, 16)) + _span(date(2023, 10, 2), date(2023, 10, 11))
    history = _history(fixtures_dir, timezone)
    recent_days = [date(2022, 11, 10) + timedelta(days=n) for n in (0, 1, 2, 4, 5, 6)]
    plays = conform(pd.concat([history, _recent(recent_days, timezone)], ignore_index=True), PLAYS)
    plays = plays[plays["extraction_date"].isin(days)]
    plays = plays.sort_values(["extraction_date", "played_at"], kind="stable").reset_index(drop=True)
    return plays, days, timezone


def _alone(table: str, plays: pd.DataFrame, day: date, timezone: str) -> pd.DataFrame:
    build, takes = GOLD_BUILDERS[table].build, GOLD_INPUTS.get(table, "plays")
    if takes == "days":
        return build([day])
    day_plays = plays[plays["extraction_date"] == day].reset_index(drop=True)
    return build(day_plays, timezone) if takes == "plays_in_timezone" else build(day_plays)


@pytest.mark.parametrize("table", sorted(GOLD_BUILDERS))
def test_a_batch_built_at_once_gives_every_day_its_own_rows(table: str, batch) -> None:
    plays, days, timezone = batch
    builder, takes = GOLD_BUILDERS[table], GOLD_INPUTS.get(table, "plays")
    assert builder.by_day
    keys = [day.isoformat() for day in days]
    built = build_days(builder, takes, None if takes == "days" else plays, keys, timezone)
    assert list(built) == keys
    with_rows = [day for day in keys if len(built[day])]
    if takes != "days":  # the exports' days and the sample's, and days without plays
        assert 5 <= len(with_rows) < len(days)
    for day in days:
        alone = _alone(table, plays, day, timezone)
        pd.testing.assert_frame_equal(built[day.isoformat()], alone, obj=f"{table} {day}")


def test_a_builder_without_by_day_is_called_for_each_day(batch) -> None:
    plays, days, timezone = batch
    calls = []

    def rows_of(day_plays: pd.DataFrame) -> pd.DataFrame:
        calls.append(len(day_plays))
        return empty_frame(PLAYS) if day_plays.empty else day_plays

    built = build_days(GoldBuilder(rows_of), "plays", plays, [day.isoformat() for day in days], timezone)
    assert len(calls) == len(days)
    assert sum(len(frame) for frame in built.values()) == len(plays)


@pytest.mark.parametrize("table", sorted(SILVER_COLUMNS))
def test_a_builder_given_only_its_silver_columns_from_the_lake_gives_the_same_rows(
    table: str, batch, tmp_path: Path
) -> None:
    plays, days, timezone = batch
    keys = [day.isoformat() for day in days]
    lake = LakeResource(local_dir=str(tmp_path / "lake"))
    frames = {key: plays[plays["extraction_date"] == day] for key, day in zip(keys, days, strict=True)}
    lake.write_table_partitions(["silver", "plays"], frames, PLAYS)
    builder, takes = GOLD_BUILDERS[table], GOLD_INPUTS.get(table, "plays")

    def built(columns: tuple[str, ...] | None) -> Mapping[str, pd.DataFrame]:
        silver = read_asset_input(lake, PLAYS.asset_key, keys, columns)
        return build_days(builder, takes, whole_frame(silver.batch(keys)), keys, timezone)

    some, whole = built(SILVER_COLUMNS[table]), built(None)
    assert len(SILVER_COLUMNS[table]) < len(PLAYS.column_names) / 2 or table == "gold.fact_recently_played"
    assert sum(map(len, whole.values())) > 0
    for key in keys:
        pd.testing.assert_frame_equal(some[key], whole[key], obj=f"{table} {key}")
