"""The data-quality rules on frames built from the real 2017 API response: each passes on good data and fails
on data built to break it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.tables import (
    BRIDGE_TRACK_ARTIST,
    DIM_ARTIST,
    DIM_DATE,
    DIM_TRACK,
    FACT_RECENTLY_PLAYED,
    PLAYS,
    TableSpec,
)
from spotify_assets.quality import reconciliation, rules
from spotify_assets.storage.warehouse import compare_keys
from spotify_assets.storage.warehouse_write import write_table
from spotify_assets.transforms import gold
from spotify_assets.transforms.raw import split_by_day
from spotify_assets.transforms.silver import flatten_recently_played

DAY, NEXT = "2017-05-26", "2017-05-27"
TZ = "UTC"


@pytest.fixture(scope="module")
def raw_by_day(fixtures_dir) -> dict[str, list[dict[str, Any]]]:
    path = fixtures_dir / "recently_played" / "recently_played_2017_20items.json"
    items = json.loads(path.read_text(encoding="utf-8"))["items"]
    return split_by_day(items, TZ, [DAY, NEXT])


@pytest.fixture(scope="module")
def silver(raw_by_day) -> dict[str, pd.DataFrame]:
    return {day: flatten_recently_played(items, "listener", TZ) for day, items in raw_by_day.items()}


@pytest.fixture(scope="module")
def tables(silver) -> dict[str, dict[str, pd.DataFrame]]:
    """Every table's frames by partition, as the assets build them."""
    builders: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
        DIM_ARTIST.name: gold.build_dim_artist,
        DIM_TRACK.name: gold.build_dim_track,
        BRIDGE_TRACK_ARTIST.name: gold.build_bridge_track_artist,
        FACT_RECENTLY_PLAYED.name: lambda plays: gold.build_fact(plays, TZ),
    }
    out = {name: {day: build(plays) for day, plays in silver.items()} for name, build in builders.items()}
    out[DIM_DATE.name] = {day: gold.build_dim_date([pd.Timestamp(day).date()]) for day in silver}
    out[PLAYS.name] = dict(silver)
    return out


SPECS = {spec.name: spec for spec in (PLAYS, DIM_ARTIST, DIM_TRACK, BRIDGE_TRACK_ARTIST, DIM_DATE)}
SPECS[FACT_RECENTLY_PLAYED.name] = FACT_RECENTLY_PLAYED


def copy_frames(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {day: frame.copy() for day, frame in frames.items()}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_good_tables_pass_unique_key_and_valid_values(tables, name):
    spec = SPECS[name]
    assert rules.unique_key(DayBatches.of(tables[name]), spec).passed
    outcome = rules.valid_values(DayBatches.of(tables[name]), spec, TZ)
    assert outcome.passed, outcome.description
    assert outcome.metadata["rows_checked"] == sum(len(f) for f in tables[name].values()) > 0


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_duplicated_row_breaks_unique_key(tables, name):
    frames = copy_frames(tables[name])
    frames[DAY] = pd.concat([frames[DAY], frames[DAY].tail(1)], ignore_index=True)
    outcome = rules.unique_key(DayBatches.of(frames), SPECS[name])
    assert not outcome.passed
    assert outcome.metadata["duplicate_keys"] == 1
    assert outcome.metadata["duplicates"].splitlines()[0].split()[-2:] == ["rows", "|"]
    checked = rules.unique_key(DayBatches.of(_checked_columns(frames, name)), SPECS[name])
    assert (checked.description, checked.metadata) == (outcome.description, outcome.metadata)


def test_the_same_play_in_two_partitions_is_a_duplicate_but_the_same_artist_is_not(tables):
    plays = copy_frames(tables[PLAYS.name])
    plays[NEXT] = pd.concat([plays[NEXT], plays[DAY].head(1)], ignore_index=True)
    assert not rules.unique_key(DayBatches.of(plays), PLAYS).passed
    artists = copy_frames(tables[DIM_ARTIST.name])
    artists[NEXT] = pd.concat([artists[NEXT], artists[DAY].head(1)], ignore_index=True)
    artists[NEXT] = artists[NEXT].drop_duplicates("artist_key")
    assert rules.unique_key(DayBatches.of(artists), DIM_ARTIST).passed


def _set(column: str, value: Any) -> Callable[[pd.DataFrame], None]:
    def breaks(frame: pd.DataFrame) -> None:
        frame.loc[frame.index[0], column] = value

    return breaks


BREAKAGES = [
    (PLAYS.name, "null track_key", _set("track_key", None)),
    (PLAYS.name, "null listener_id", _set("listener_id", None)),
    (
        PLAYS.name,
        "played_at outside the partition's day",
        _set("played_at", pd.Timestamp("2017-05-25T12:00Z")),
    ),
    (PLAYS.name, "extraction_date is not the partition", _set("extraction_date", pd.Timestamp(NEXT).date())),
    (PLAYS.name, "ms_played < 0", _set("ms_played", -1)),
    (PLAYS.name, "duration_ms <= 0", _set("duration_ms", 0)),
    (FACT_RECENTLY_PLAYED.name, "null play_id", _set("play_id", None)),
    (FACT_RECENTLY_PLAYED.name, "hour_of_day outside 0-23", _set("hour_of_day", 24)),
    (FACT_RECENTLY_PLAYED.name, "date_key is not the partition's day", _set("date_key", 20170527)),
    (FACT_RECENTLY_PLAYED.name, "ms_played < 0", _set("ms_played", -5)),
    (DIM_TRACK.name, "duration_ms <= 0", _set("duration_ms", -1)),
    (DIM_TRACK.name, "null track_key", _set("track_key", None)),
    (
        DIM_ARTIST.name,
        "first_played_at after last_played_at",
        _set("first_played_at", pd.Timestamp("2017-06-01T00:00Z")),
    ),
    (BRIDGE_TRACK_ARTIST.name, "position < 0", _set("position", -1)),
    (DIM_DATE.name, "dim_date row of another day", _set("date_key", 20170101)),
]


@pytest.mark.parametrize(("name", "rule", "breaks"), BREAKAGES, ids=[f"{n}: {r}" for n, r, _ in BREAKAGES])
def test_broken_values_fail_valid_values(tables, name, rule, breaks):
    frames = copy_frames(tables[name])
    breaks(frames[DAY])
    outcome = rules.valid_values(DayBatches.of(frames), SPECS[name], TZ)
    assert not outcome.passed
    assert outcome.metadata["violations"] == {rule: 1}
    assert DAY in outcome.description
    # Read as the check reads them, only the columns it checks: the same outcome.
    checked = rules.valid_values(DayBatches.of(_checked_columns(frames, name)), SPECS[name], TZ)
    assert (checked.description, checked.metadata) == (outcome.description, outcome.metadata)


def _checked_columns(frames: dict[str, pd.DataFrame], name: str) -> dict[str, pd.DataFrame]:
    columns = [c for c in SPECS[name].column_names if c in rules.columns_checked(SPECS[name])]
    return {day: frame[columns] for day, frame in frames.items()}


def test_played_at_is_judged_in_the_partitions_time_zone(tables):
    # 23:58 UTC on May 26 is already May 27 in Berlin: the same rows break the rule there.
    assert rules.valid_values(DayBatches.of(tables[PLAYS.name]), PLAYS, "UTC").passed
    outcome = rules.valid_values(DayBatches.of(tables[PLAYS.name]), PLAYS, "Europe/Berlin")
    assert outcome.metadata["violations"]["played_at outside the partition's day"] > 0


@pytest.mark.parametrize(
    ("values", "present", "missing"),
    [
        (["a", "b", "a"], {"a", "b"}, []),
        (["a", "b", "a", "c"], {"b"}, [("a", 2), ("c", 1)]),
        (["a", None], {"a"}, []),
        ([20170526, 20170527], {20170526}, [("20170527", 1)]),
    ],
)
def test_missing_references(values, present, missing):
    found = rules.missing_references(pd.Series(values), present)
    assert list(zip(found["key"], found["rows"], strict=True)) == missing


def test_references_exist_names_the_orphans():
    ok = rules.references_exist(
        {"track_key -> gold.dim_track": rules.missing_references(pd.Series(["a"]), {"a"})}
    )
    assert ok.passed
    broken = rules.references_exist(
        {"track_key -> gold.dim_track": rules.missing_references(pd.Series(["a", "x", "x"]), {"a"})}
    )
    assert not broken.passed
    assert broken.description == "2 rows with track_key -> gold.dim_track missing"
    assert "| x | 2 |" in " ".join(broken.metadata["missing track_key -> gold.dim_track"].split())


# -- reconciliation -----------------------------------------------------------------------------------------


def test_silver_built_from_raw_matches_it(raw_by_day, silver):
    outcome = reconciliation.silver_matches_raw(raw_by_day, silver)
    assert outcome.passed, outcome.description
    assert outcome.metadata["raw_music_plays"] == outcome.metadata["silver_rows"] == 20


def test_a_play_missing_from_silver_fails(raw_by_day, silver):
    broken = copy_frames(silver)
    broken[DAY] = broken[DAY].iloc[1:]
    outcome = reconciliation.silver_matches_raw(raw_by_day, broken)
    assert not outcome.passed
    assert outcome.metadata["missing_from_silver"] == 1
    assert "in raw, not in silver" in outcome.metadata["examples"]


def test_a_silver_play_that_raw_does_not_hold_fails(raw_by_day, silver):
    raw = {day: list(items) for day, items in raw_by_day.items()}
    raw[NEXT] = raw[NEXT][1:]
    outcome = reconciliation.silver_matches_raw(raw, silver)
    assert not outcome.passed
    assert outcome.metadata["not_in_raw"] == 1


def test_an_absent_raw_partition_counts_as_no_plays(silver):
    outcome = reconciliation.silver_matches_raw({DAY: None}, {DAY: silver[DAY]})
    assert not outcome.passed
    assert outcome.metadata["not_in_raw"] == len(silver[DAY])


def test_podcast_episodes_and_items_without_a_track_are_excluded(raw_by_day, silver):
    raw = copy.deepcopy(raw_by_day)
    episode = copy.deepcopy(raw[DAY][0])
    episode["track"]["type"] = "episode"
    episode["played_at"] = "2017-05-26T10:00:00.000Z"
    raw[DAY] += [episode, {"played_at": "2017-05-26T11:00:00.000Z", "track": None}]
    assert reconciliation.silver_matches_raw(raw, silver).passed


@pytest.mark.parametrize(("shift", "passes"), [(timedelta(seconds=3), True), (timedelta(seconds=30), False)])
def test_an_export_row_stands_for_a_recently_played_item_within_the_tolerance(
    raw_by_day, silver, shift, passes
):
    # Silver deduplicated across sources and kept the export's row (second precision) instead of the API's.
    replaced = silver[DAY].copy()
    replaced.loc[replaced.index[0], "source"] = "extended_history"
    replaced.loc[replaced.index[0], "played_at"] = replaced["played_at"].iloc[0].floor("s") + shift
    outcome = reconciliation.silver_matches_raw(raw_by_day, {**silver, DAY: replaced})
    assert outcome.passed is passes
    assert outcome.metadata["matched_by_export_rows"] == (1 if passes else 0)


def _fact_against_silver(postgres, silver, fact, partitions=(DAY, NEXT)) -> rules.Outcome:
    """`fact_matches_silver` of the warehouse holding `silver` and `fact` (frames by day)."""
    with postgres.connect() as conn:
        write_table(conn, PLAYS, silver)
        write_table(conn, FACT_RECENTLY_PLAYED, fact)
        plays = compare_keys(conn, PLAYS, FACT_RECENTLY_PLAYED, reconciliation.SILVER_FACT_KEY, partitions)
    return reconciliation.fact_matches_silver(plays)


def test_fact_matches_silver_in_the_warehouse(clean_warehouse, silver, tables):
    fact = tables[FACT_RECENTLY_PLAYED.name]
    good = _fact_against_silver(clean_warehouse, silver, fact)
    assert good.passed, good.description
    assert good.metadata["fact_rows"] == good.metadata["silver_rows"] == sum(map(len, silver.values())) > 0

    missing = _fact_against_silver(clean_warehouse, silver, {**fact, DAY: fact[DAY].iloc[1:]})
    assert not missing.passed
    assert (missing.metadata["missing_from_fact"], missing.metadata["not_in_silver"]) == (1, 0)

    extra = _fact_against_silver(clean_warehouse, {**silver, NEXT: silver[NEXT].iloc[1:]}, fact)
    assert not extra.passed
    assert (extra.metadata["missing_from_fact"], extra.metadata["not_in_silver"]) == (0, 1)

    # A fact row that names another track than its play: one play missing, one row that is none.
    wrong = fact[DAY].copy()
    wrong.loc[0, "track_key"] = "another-track"
    moved = _fact_against_silver(clean_warehouse, silver, {**fact, DAY: wrong})
    assert not moved.passed
    assert (moved.metadata["missing_from_fact"], moved.metadata["not_in_silver"]) == (1, 1)
    rows = len(silver[DAY]) + len(silver[NEXT])
    assert moved.description == (
        f"silver has {rows} rows and the fact {rows}: "
        "1 plays missing from the fact, 1 fact rows not in silver"
    )

    # Only the checked partitions count: the other day's broken rows are not this check's.
    assert _fact_against_silver(clean_warehouse, silver, {**fact, DAY: wrong}, partitions=(NEXT,)).passed
    empty = {day: frame.head(0) for day, frame in fact.items()}
    silver_empty = {day: frame.head(0) for day, frame in silver.items()}
    assert _fact_against_silver(clean_warehouse, silver_empty, empty).passed


# -- raw capture and authorisation --------------------------------------------------------------------------


@pytest.mark.parametrize(("gap_days", "passed"), [([], True), (["2017-05-27"], False)])
def test_possible_gap_is_a_warning(gap_days, passed):
    outcome = rules.no_possible_gap(gap_days)
    assert (outcome.passed, outcome.severity) == (passed, "WARN")


NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("source", "authorized_days_ago", "passed", "text"),
    [
        ("sample", None, True, "sample source needs no"),
        ("live", None, False, "consent date of the refresh token is unknown"),
        ("live", 30, True, "valid until 2027-04-29"),
        ("live", 167, True, "valid until"),
        ("live", 168, False, "expires on 2026-12-12"),
        ("live", 200, False, "expired on"),
    ],
)
def test_authorization_warns_two_weeks_before_expiry(source, authorized_days_ago, passed, text):
    authorized_at = NOW - timedelta(days=authorized_days_ago) if authorized_days_ago is not None else None
    due = authorized_at + timedelta(days=182) if authorized_at else None
    outcome = rules.authorization_fresh(source, authorized_at, due, NOW)
    assert outcome.passed is passed
    assert outcome.severity == "WARN"
    assert text in outcome.description


def check_spec_names(spec: TableSpec) -> list[str]:
    return [c.name for c in spec.columns if not c.nullable]


def test_every_not_null_column_is_checked(tables):
    for name, spec in SPECS.items():
        frames = copy_frames(tables[name])
        for column in check_spec_names(spec):
            broken = frames[DAY].copy()
            broken[column] = broken[column].astype(object)
            broken.loc[broken.index[0], column] = None
            violations = rules.valid_values(DayBatches.of({DAY: broken}), spec, "UTC").metadata["violations"]
            null_counts = {
                rule.removeprefix("null "): n for rule, n in violations.items() if rule.startswith("null ")
            }
            assert null_counts == {column: 1}, (name, column)


def test_valid_values_names_the_broken_partition_of_a_batch():
    days = ["2017-05-26", "2017-05-27", "2017-05-28"]
    frames = {day: gold.build_dim_date([date.fromisoformat(day)]) for day in days}
    frames["2017-05-27"].loc[0, "date_key"] = 20170101
    batched = DayBatches(days, lambda keys: {key: frames[key] for key in keys}, batch_days=3)
    outcome = rules.valid_values(batched, DIM_DATE, TZ)
    assert not outcome.passed
    assert outcome.metadata["violations"] == {"dim_date row of another day": 1}
    assert outcome.metadata["rows_checked"] == 3
    assert "2017-05-27" in outcome.description and "2017-05-26" not in outcome.description
