"""Data-quality rules as pure functions on frames: what the asset checks evaluate, tested without Dagster.

Every rule takes the rows of the checked partitions (`{partition key: frame}`, frames conformed to their
`TableSpec`) and returns an `Outcome`: passed or not, a one-line description, and metadata for the UI.
The checks in `spotify_assets.quality.checks` only read the rows and turn outcomes into `AssetCheckResult`s.
The rules that compare layers (`raw -> silver -> fact`) are in `spotify_assets.quality.reconciliation`; those
of the raw captures and the tokens in `capture_rules`, and `Outcome` in `outcome` (re-exported here): both
load without pandas, as the Dagster definitions do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.markdown import markdown_table
from spotify_assets.contracts.table_frames import DayFrames, whole_frame
from spotify_assets.contracts.tables import TableSpec
from spotify_assets.quality.capture_rules import (
    TOKEN_WARNING_LEAD,
    authorization_fresh,
    household_authorization_fresh,
    no_possible_gap,
)
from spotify_assets.quality.outcome import Markdown, Outcome, Severity, measured, partitions_text

__all__ = [
    "SAMPLE_ROWS",
    "TOKEN_WARNING_LEAD",
    "VALUE_RULES",
    "UniqueKey",
    "ValidValues",
    "Frames",
    "Markdown",
    "Outcome",
    "Severity",
    "authorization_fresh",
    "columns_checked",
    "duplicate_keys",
    "household_authorization_fresh",
    "measured",
    "missing_references",
    "no_possible_gap",
    "partitions_text",
    "references_exist",
    "sample_table",
    "unique_key",
    "valid_values",
]

Frames = Mapping[str, pd.DataFrame]

SAMPLE_ROWS = 5


def sample_table(frame: pd.DataFrame, rows: int = SAMPLE_ROWS) -> Markdown:
    """A few rows as a Markdown table (for check metadata)."""
    head = frame.head(rows)
    return Markdown(markdown_table(list(head.columns), list(head.itertuples(index=False))))


def _concat(frames: Frames) -> pd.DataFrame:
    return whole_frame(frames)


def _rows(frames: Frames) -> int:
    return sum(frames.counts.values()) if isinstance(frames, DayFrames) else sum(map(len, frames.values()))


# -- keys -------------------------------------------------------------------------------------------------


PARTITION = "_partition"
"""A column naming each row's partition while a batch of partitions is checked as one frame."""


def duplicate_keys(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Key values held by more than one row, with their row count (`rows`), sorted by key."""
    if frame.empty:
        return pd.DataFrame(columns=[*columns, "rows"])
    # Only the rows whose key repeats are grouped (hashing finds them; grouping all rows sorts them all).
    frame = frame[frame.duplicated(list(columns), keep=False).to_numpy()]
    counts = frame.groupby(list(columns), dropna=False, sort=True).size()
    return counts[counts > 1].rename("rows").reset_index()


def unique_key(frames: DayBatches, spec: TableSpec) -> Outcome:
    """The primary key is unique: across all checked partitions for tables that hold one partition per row
    (silver, fact), within each partition's rows for upserted tables (a day lists the entities it saw, and
    the same artist is rightly in many days).

    The rows are checked a batch of days at a time (`UniqueKey`). For silver and the fact that is the same
    check: their keys hold `played_at`, which `valid_values` keeps inside the row's own day.
    """
    check = UniqueKey(spec)
    for batch in frames.batches():
        check.add(batch)
    return check.outcome()


class UniqueKey:
    """`unique_key` a batch at a time: `add` each batch of the checked partitions once, then `outcome()`
    (so one read of the rows can serve every rule)."""

    def __init__(self, spec: TableSpec) -> None:
        self._spec, self._key = spec, list(spec.primary_key)
        self._found: dict[str, list[pd.DataFrame]] = {}
        self._rows = self._partitions = 0

    def add(self, batch: Frames) -> None:
        self._rows += _rows(batch)
        self._partitions += len(batch)
        if self._spec.write_mode == "replace_partition":
            duplicates = duplicate_keys(_concat(batch), self._key)
            if len(duplicates):
                self._found.setdefault("all", []).append(duplicates)
            return
        # Each partition's keys apart, in one grouping of the batch: the partition is part of the key.
        by_day = DayFrames.of(batch)
        labelled = by_day.whole.assign(**{PARTITION: by_day.row_days()})
        duplicates = duplicate_keys(labelled, [PARTITION, *self._key])
        for day, part in duplicates.groupby(PARTITION, sort=True):
            self._found.setdefault(str(day), []).append(part.drop(columns=PARTITION).reset_index(drop=True))

    def outcome(self) -> Outcome:
        key, found, rows = self._key, self._found, self._rows
        duplicate_count = sum(len(part) for parts in found.values() for part in parts)
        metadata: dict[str, Any] = {"rows_checked": rows, "duplicate_keys": duplicate_count}
        if not found:
            scope = "in" if self._spec.write_mode == "replace_partition" else "within each partition of"
            return Outcome(
                True, f"({', '.join(key)}) is unique {scope} {measured(rows, self._partitions)}", metadata
            )
        parts = [part for group in found.values() for part in group]
        metadata["duplicates"] = sample_table(pd.concat(parts, ignore_index=True))
        days = sorted(name for name in found if name != "all")
        where = f" (partitions {', '.join(days)})" if days else ""
        return Outcome(False, f"{duplicate_count} duplicated ({', '.join(key)}) values{where}", metadata)


# -- values -----------------------------------------------------------------------------------------------


def _date_keys(values: pd.Series, timezone: str) -> pd.Series:
    """Timestamps as the YYYYMMDD integer of their local day in `timezone`."""
    local = pd.to_datetime(values, utc=True).dt.tz_convert(timezone)
    return local.dt.year * 10000 + local.dt.month * 100 + local.dt.day


def _as_date_keys(values: pd.Series) -> pd.Series:
    """Dates (datetime.date or timestamps) as YYYYMMDD integers; null stays null.

    Converted once per distinct value: a partition's rows share a few dates, and parsing a million
    `datetime.date` objects one by one was most of the check.
    """
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    stamps = pd.to_datetime(pd.Series(distinct, dtype=values.dtype))
    keys = stamps.dt.year * 10000 + stamps.dt.month * 100 + stamps.dt.day
    return pd.Series(keys.to_numpy()[codes], index=values.index)


Rule = Callable[[pd.DataFrame, pd.Series, str], pd.Series]
"""(rows, each row's partition day as a YYYYMMDD integer, time zone) -> True where a row breaks the rule."""

VALUE_RULES: tuple[tuple[str, tuple[str, ...], Rule], ...] = (
    (
        "extraction_date is not the partition",
        ("extraction_date",),
        lambda f, day, tz: f["extraction_date"].notna() & (_as_date_keys(f["extraction_date"]) != day),
    ),
    (
        "played_at outside the partition's day",
        ("played_at", "extraction_date"),
        lambda f, day, tz: f["played_at"].notna() & (_date_keys(f["played_at"], tz) != day),
    ),
    (
        "date_key is not the partition's day",
        ("date_key", "played_at"),
        lambda f, day, tz: f["date_key"] != day,
    ),
    (
        "dim_date row of another day",
        ("date_key", "date"),
        lambda f, day, tz: (_as_date_keys(f["date"]) != day) | (f["date_key"] != day),
    ),
    ("hour_of_day outside 0-23", ("hour_of_day",), lambda f, day, tz: ~f["hour_of_day"].between(0, 23)),
    ("ms_played < 0", ("ms_played",), lambda f, day, tz: f["ms_played"] < 0),
    ("duration_ms <= 0", ("duration_ms",), lambda f, day, tz: f["duration_ms"] <= 0),
    ("position < 0", ("position",), lambda f, day, tz: f["position"] < 0),
    (
        "first_played_at after last_played_at",
        ("first_played_at", "last_played_at"),
        lambda f, day, tz: f["first_played_at"] > f["last_played_at"],
    ),
)
"""Sane-value rules: (name, columns the table must have for the rule to apply, the rule)."""


def columns_checked(spec: TableSpec) -> set[str]:
    """The columns `unique_key` and `valid_values` read of the spec's rows: its key, its NOT NULL columns and
    those of every value rule that applies to it (a check reads these alone from the lake)."""
    names = set(spec.column_names)
    columns = {*spec.primary_key, *(c.name for c in spec.columns if not c.nullable)}
    for _, needed, _ in VALUE_RULES:
        if set(needed) <= names:
            columns |= set(needed)
    return columns


def _violations_by_partition(batch: Frames, spec: TableSpec, timezone: str) -> dict[str, dict[str, int]]:
    """Rows breaking each NOT NULL column and each applicable rule, by partition key: one pass per batch."""
    days = DayFrames.of(batch)
    if not len(days.whole):
        return {}
    rows = days.whole.reset_index(drop=True)
    partitions = days.row_days()
    day_keys = pd.Series(
        np.repeat([int(key.replace("-", "")) for key in days.counts], list(days.counts.values())),
        index=rows.index,
    )
    broken: dict[str, pd.Series] = {
        f"null {c.name}": rows[c.name].isna() for c in spec.columns if not c.nullable
    }
    for name, columns, rule in VALUE_RULES:
        if set(columns) <= set(rows.columns):
            broken[name] = rule(rows, day_keys, timezone).fillna(False).astype(bool)
    found: dict[str, dict[str, int]] = {}
    for name, mask in broken.items():
        values = mask.to_numpy(dtype=bool)
        if not values.any():
            continue
        for partition_key, count in Counter(partitions[values].tolist()).items():
            found.setdefault(partition_key, {})[name] = count
    return found


def valid_values(frames: DayBatches, spec: TableSpec, timezone: str) -> Outcome:
    """No nulls in NOT NULL columns (keys included) and every sane-value rule holds, in each partition."""
    check = ValidValues(spec, timezone)
    for batch in frames.batches():
        check.add(batch)
    return check.outcome()


class ValidValues:
    """`valid_values` a batch at a time: `add` each batch of the checked partitions once, then `outcome()`."""

    def __init__(self, spec: TableSpec, timezone: str) -> None:
        self._spec, self._timezone = spec, timezone
        self._problems: Counter[str] = Counter()
        self._days_with_problems: set[str] = set()
        self._rows = self._partitions = 0

    def add(self, batch: Frames) -> None:
        self._rows += _rows(batch)
        self._partitions += len(batch)
        for partition_key, found in _violations_by_partition(batch, self._spec, self._timezone).items():
            self._problems.update(found)
            self._days_with_problems.add(partition_key)

    def outcome(self) -> Outcome:
        problems, rows = self._problems, self._rows
        metadata: dict[str, Any] = {"rows_checked": rows, "violations": dict(sorted(problems.items()))}
        if not problems:
            return Outcome(
                True, f"no null keys and sane values in {measured(rows, self._partitions)}", metadata
            )
        summary = ", ".join(f"{name}: {count}" for name, count in sorted(problems.items()))
        return Outcome(False, f"{summary} (partitions {partitions_text(self._days_with_problems)})", metadata)


# -- referential integrity --------------------------------------------------------------------------------


def missing_references(values: pd.Series, present: Iterable[Any]) -> pd.DataFrame:
    """Distinct non-null `values` not in `present`, with how many rows hold each (`rows`), sorted by key."""
    values = values.dropna()
    missing = values[~values.isin(set(present))]
    counts = missing.value_counts(sort=False).sort_index()
    return pd.DataFrame({"key": counts.index.astype(str), "rows": counts.to_numpy()})


def references_exist(missing: Mapping[str, pd.DataFrame]) -> Outcome:
    """Every foreign key is in its dimension; `missing` maps `column -> table` to `missing_references`."""
    counts = {name: int(frame["rows"].sum()) for name, frame in missing.items()}
    metadata: dict[str, Any] = {"orphan_rows_total": sum(counts.values()), "orphan_rows": counts}
    broken = {name: frame for name, frame in missing.items() if len(frame)}
    if not broken:
        return Outcome(True, f"every key is in its dimension ({', '.join(missing)})", metadata)
    for name, frame in broken.items():
        metadata[f"missing {name}"] = sample_table(frame)
    summary = ", ".join(f"{counts[name]} rows with {name} missing" for name in broken)
    return Outcome(False, summary, metadata)
