"""What the tables' asset checks evaluate when they run: the checked partitions' rows read from the lake (only
the columns the rules read), and for the cross-table rules the warehouse, judged by `rules` and
`reconciliation`.

The checks themselves (`checks`: their specs, blocking, descriptions) are wiring the Dagster definitions load;
this module, with pandas, loads when a check step runs.
"""

# No `from __future__ import annotations`: kept as `checks`, whose resource annotations Dagster reads.

import contextlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import dagster as dg
import pandas as pd

from spotify_assets.assets.raw import RAW_RECENTLY_PLAYED
from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.table_frames import whole_frame
from spotify_assets.contracts.tables import FACT_RECENTLY_PLAYED, PLAYS, TableSpec
from spotify_assets.quality import rules
from spotify_assets.quality.check_results import to_result
from spotify_assets.quality.checks import (
    KEYS_IN_DIMENSIONS,
    MATCHES_RAW,
    MATCHES_SILVER,
    UNIQUE_KEY,
    VALID_VALUES,
)
from spotify_assets.quality.reconciliation import (
    SILVER_FACT_KEY,
    SILVER_RAW_COLUMNS,
    fact_matches_silver,
    silver_matches_raw,
)
from spotify_assets.storage.lake import LakeResource
from spotify_assets.storage.postgres import PostgresResource
from spotify_assets.storage.raw_partitions import listener_json_partitions
from spotify_assets.storage.warehouse import compare_keys, existing_keys

if TYPE_CHECKING:
    import psycopg


def evaluate(
    spec: TableSpec,
    names: Sequence[str],
    references: Mapping[str, tuple[TableSpec, str]],
    timezone: str,
    partitions: Sequence[str],
    lake: LakeResource,
    postgres: PostgresResource,
) -> Iterable[dg.AssetCheckResult]:
    """The results of the checks `names` of `spec`'s table over `partitions` (days in `timezone`).

    The partitions' objects are read once, a batch of days at a time, each batch handed to every rule as it
    is read (a decade's checks would otherwise read each of its 3,653 objects once per rule)."""
    key = spec.asset_key
    if KEYS_IN_DIMENSIONS not in names:
        references = {}
    columns = rules.columns_checked(spec) | set(references)
    if MATCHES_RAW in names:
        columns |= set(SILVER_RAW_COLUMNS)
    unique, valid = rules.UniqueKey(spec), rules.ValidValues(spec, timezone)
    passes: list[_Batch] = [unique, valid]
    referenced: _References | None = None
    with contextlib.ExitStack() as stack:
        if references:
            referenced = _References(stack.enter_context(postgres.connect()), references)
            passes.append(referenced)
        rows = _lake_rows(lake, spec, partitions, columns, passes)
        matched = silver_matches_raw(_raw_items(lake, partitions), rows) if MATCHES_RAW in names else None
        rows.read_all()  # the batches no lookup asked for
    if UNIQUE_KEY in names:
        yield to_result(key, UNIQUE_KEY, unique.outcome(), partitions)
    if VALID_VALUES in names:
        yield to_result(key, VALID_VALUES, valid.outcome(), partitions)
    if matched is not None:
        yield to_result(key, MATCHES_RAW, matched, partitions)
    if referenced is not None:
        yield to_result(key, KEYS_IN_DIMENSIONS, referenced.outcome(), partitions)
    if MATCHES_SILVER in names:
        yield to_result(key, MATCHES_SILVER, _matches_silver(postgres, partitions), partitions)


class _Batch(Protocol):
    def add(self, batch: Mapping[str, pd.DataFrame]) -> None: ...


class _OnePass(DayBatches):
    """The partitions' rows, read from the lake a batch of days at a time as they are looked up, each batch
    once: as it is read, every pass (`add`) gets it too."""

    def __init__(
        self,
        partitions: Sequence[str],
        read: Callable[[list[str]], Mapping[str, pd.DataFrame]],
        passes: Sequence[_Batch],
    ) -> None:
        self._seen: set[str] = set()
        self._passes = list(passes)
        self._read_batch = read
        super().__init__(partitions, self._read_once)

    def _read_once(self, keys: list[str]) -> Mapping[str, pd.DataFrame]:
        batch = self._read_batch(keys)
        if not self._seen.issuperset(keys):
            self._seen.update(keys)
            for each in self._passes:
                each.add(batch)
        return batch

    def read_all(self) -> None:
        """Read the batches not read yet (in key order), for the passes."""
        for key in self:
            if key not in self._seen:
                self[key]  # loads its batch


def _lake_rows(
    lake: LakeResource,
    spec: TableSpec,
    partitions: Sequence[str],
    columns: Collection[str],
    passes: Sequence[_Batch],
) -> _OnePass:
    """The partitions' rows, only `columns` of them (what the checks read), read a batch of days at a time,
    each batch handed to `passes` once."""
    path, read = [spec.schema, spec.name], spec.projected(columns)
    return _OnePass(partitions, lambda keys: lake.read_table_partitions(path, keys, read), passes)


def _raw_items(lake: LakeResource, partitions: Sequence[str]) -> DayBatches:
    """Each day's raw recently-played `items` of every listener (None when the day has no raw object), read
    day by day."""
    raw = listener_json_partitions(lake, RAW_RECENTLY_PLAYED.path, partitions, optional=True)

    def read(days: list[str]) -> dict[str, object]:
        items: dict[str, object] = {}
        for day in days:
            payloads = raw[day].values()
            items[day] = [item for payload in payloads for item in (payload or {}).get("items", [])]
            if not payloads:
                items[day] = None
        return items

    return DayBatches(partitions, read, batch_days=1)


# -- silver and gold: every table of the registry ------------------------------------------------------------


class _References:
    """`keys_in_dimensions` a batch at a time on `conn`: `add` each batch once, then `outcome()`."""

    def __init__(self, conn: "psycopg.Connection", references: Mapping[str, tuple[TableSpec, str]]) -> None:
        self._conn, self._references = conn, references
        self._missing: dict[str, list[pd.DataFrame]] = {}

    def add(self, batch: Mapping[str, pd.DataFrame]) -> None:
        frame = whole_frame(batch)
        for column, (dimension, key) in self._references.items():
            present = existing_keys(self._conn, dimension, key, frame[column].dropna().unique().tolist())
            name = f"{column} -> {dimension.qualified_name}"
            self._missing.setdefault(name, []).append(rules.missing_references(frame[column], present))

    def outcome(self) -> rules.Outcome:
        return rules.references_exist({name: _add_up(parts) for name, parts in self._missing.items()})


def _add_up(missing: list[pd.DataFrame]) -> pd.DataFrame:
    """`missing_references` of several batches as one: rows added up by key, sorted by key."""
    if len(missing) == 1:
        return missing[0]
    total = pd.concat(missing, ignore_index=True).groupby("key", sort=True)["rows"].sum()
    return pd.DataFrame({"key": total.index.astype(str), "rows": total.to_numpy()})


def _matches_silver(postgres: PostgresResource, partitions: Sequence[str]) -> rules.Outcome:
    with postgres.connect() as conn:
        # Compared by the server: a range of a million plays comes back as four counts, not as rows.
        plays = compare_keys(conn, PLAYS, FACT_RECENTLY_PLAYED, SILVER_FACT_KEY, partitions)
    return fact_matches_silver(plays)
