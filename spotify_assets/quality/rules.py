"""Data-quality rules as pure functions on frames: what the asset checks evaluate, tested without Dagster.

Every rule takes the rows of the checked partitions (`{partition key: frame}`, frames conformed to their
`TableSpec`) and returns an `Outcome`: passed or not, a one-line description, and metadata for the UI.
The checks in `spotify_assets.quality.checks` only read the rows and turn outcomes into `AssetCheckResult`s.
The rules that compare layers (`raw -> silver -> fact`) are in `spotify_assets.quality.reconciliation`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.markdown import markdown_table
from spotify_assets.contracts.tables import TableSpec

Severity = Literal["ERROR", "WARN"]
Frames = Mapping[str, pd.DataFrame]

TOKEN_WARNING_LEAD = timedelta(days=14)
"""Warn this long before Spotify's six-month refresh-token expiry."""
SAMPLE_ROWS = 5


class Markdown(str):
    """Metadata text to show as Markdown (a table of offending rows)."""


@dataclass(frozen=True)
class Outcome:
    """The result of one rule: `passed`, what was found, and metadata for the Dagster UI."""

    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    severity: Severity = "ERROR"


def partitions_text(keys: Iterable[str]) -> str:
    keys = sorted(keys)
    if not keys:
        return "none"
    return keys[0] if len(keys) == 1 else f"{keys[0]}..{keys[-1]} ({len(keys)} days)"


def sample_table(frame: pd.DataFrame, rows: int = SAMPLE_ROWS) -> Markdown:
    """A few rows as a Markdown table (for check metadata)."""
    head = frame.head(rows)
    return Markdown(markdown_table(list(head.columns), list(head.itertuples(index=False))))


def _concat(frames: Frames) -> pd.DataFrame:
    parts = [frame for frame in frames.values() if len(frame)]
    if not parts:
        return next(iter(frames.values()), pd.DataFrame()).head(0)
    return pd.concat(parts, ignore_index=True)


def measured(rows: int, partitions: int) -> str:
    """What a rule read: `193 rows across 7 partitions` (the partitions' rows added up, not the table's)."""
    return f"{rows} rows across {partitions} partition{'' if partitions == 1 else 's'}"


# -- keys -------------------------------------------------------------------------------------------------


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

    The rows are checked a batch of days at a time. For silver and the fact that is the same check:
    their keys hold `played_at`, which `valid_values` keeps inside the row's own day.
    """
    key = list(spec.primary_key)
    found: dict[str, list[pd.DataFrame]] = {}
    rows = partitions = 0
    for batch in frames.batches():
        rows += sum(len(frame) for frame in batch.values())
        partitions += len(batch)
        groups = {"all": _concat(batch)} if spec.write_mode == "replace_partition" else batch
        for name, frame in groups.items():
            duplicates = duplicate_keys(frame, key)
            if len(duplicates):
                found.setdefault(name, []).append(duplicates)
    duplicate_count = sum(len(part) for parts in found.values() for part in parts)
    metadata: dict[str, Any] = {"rows_checked": rows, "duplicate_keys": duplicate_count}
    if not found:
        scope = "in" if spec.write_mode == "replace_partition" else "within each partition of"
        return Outcome(True, f"({', '.join(key)}) is unique {scope} {measured(rows, partitions)}", metadata)
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


def _violations_by_partition(batch: Frames, spec: TableSpec, timezone: str) -> dict[str, dict[str, int]]:
    """Rows breaking each NOT NULL column and each applicable rule, by partition key: one pass per batch."""
    filled = {key: frame for key, frame in batch.items() if len(frame)}
    if not filled:
        return {}
    rows = pd.concat(list(filled.values()), ignore_index=True)
    partitions = np.repeat(np.array(list(filled), dtype=object), [len(frame) for frame in filled.values()])
    day_keys = pd.Series(
        np.repeat([int(key.replace("-", "")) for key in filled], [len(f) for f in filled.values()]),
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
    problems: Counter[str] = Counter()
    days_with_problems = set()
    rows = partitions = 0
    for batch in frames.batches():
        rows += sum(len(frame) for frame in batch.values())
        partitions += len(batch)
        for partition_key, found in _violations_by_partition(batch, spec, timezone).items():
            problems.update(found)
            days_with_problems.add(partition_key)
    metadata: dict[str, Any] = {"rows_checked": rows, "violations": dict(sorted(problems.items()))}
    if not problems:
        return Outcome(True, f"no null keys and sane values in {measured(rows, partitions)}", metadata)
    summary = ", ".join(f"{name}: {count}" for name, count in sorted(problems.items()))
    return Outcome(False, f"{summary} (partitions {partitions_text(days_with_problems)})", metadata)


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


# -- raw capture and authorisation ------------------------------------------------------------------------


def no_possible_gap(gap_days: Sequence[str]) -> Outcome:
    """A warning when the raw extraction found a possible gap (a full API page not reaching stored plays)."""
    metadata = {"possible_gap_days": ", ".join(gap_days)}
    if not gap_days:
        return Outcome(True, "the API's window reached back to plays already stored", metadata, "WARN")
    return Outcome(
        False,
        f"plays may be missing on {', '.join(gap_days)}: the API returned a full page of 50 that did not "
        "reach back to anything stored; run the intraday capture more often, or import a data export",
        metadata,
        "WARN",
    )


def authorization_fresh(
    source: str,
    authorized_at: datetime | None,
    due: datetime | None,
    now: datetime,
    command: str = "spotify-assets auth",
) -> Outcome:
    """Warn two weeks before the refresh token's six-month expiry, or when a live source's consent date is
    unknown; the sample source needs no authorisation."""
    if source != "live":
        return Outcome(
            True, f"the {source} source needs no Spotify authorisation", {"source": source}, "WARN"
        )
    if authorized_at is None or due is None:
        return Outcome(
            False,
            "the consent date of the refresh token is unknown, so its six-month expiry cannot be watched: "
            f"run `{command}` to record it",
            {"source": source},
            "WARN",
        )
    metadata = {
        "source": source,
        "authorized_at": authorized_at.isoformat(),
        "reauthorization_due": due.isoformat(),
        "days_left": (due - now) // timedelta(days=1),
    }
    if now >= due - TOKEN_WARNING_LEAD:
        state = "expired" if now >= due else "expires"
        return Outcome(
            False,
            f"the Spotify refresh token {state} on {due.date().isoformat()}: run `{command}` again",
            metadata,
            "WARN",
        )
    return Outcome(
        True, f"the Spotify refresh token is valid until {due.date().isoformat()}", metadata, "WARN"
    )


def household_authorization_fresh(outcomes: Mapping[str, Outcome]) -> Outcome:
    """Every listener's `authorization_fresh` as one outcome: failing (a warning) when any listener's does."""
    if list(outcomes) == ["default"]:
        return outcomes["default"]
    failing = {name: outcome for name, outcome in outcomes.items() if not outcome.passed}
    metadata = {name: outcome.metadata for name, outcome in outcomes.items()}
    if not failing:
        return Outcome(
            True, f"every listener's Spotify token is fresh ({', '.join(outcomes)})", metadata, "WARN"
        )
    text = "; ".join(f"{name}: {outcome.description}" for name, outcome in failing.items())
    return Outcome(False, text, metadata, "WARN")
