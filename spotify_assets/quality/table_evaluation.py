"""What the tables' asset checks evaluate when they run: the checked partitions' rows read from the lake (only
the columns the rules read), and for the cross-table rules the warehouse, judged by `rules` and
`reconciliation`.

The checks themselves (`checks`: their specs, blocking, descriptions) are wiring the Dagster definitions load;
this module, with pandas, loads when a check step runs.
"""

# No `from __future__ import annotations`: kept as `checks`, whose resource annotations Dagster reads.

from collections.abc import Collection, Iterable, Mapping, Sequence

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


def evaluate(
    spec: TableSpec,
    names: Sequence[str],
    references: Mapping[str, tuple[TableSpec, str]],
    timezone: str,
    partitions: Sequence[str],
    lake: LakeResource,
    postgres: PostgresResource,
) -> Iterable[dg.AssetCheckResult]:
    """The results of the checks `names` of `spec`'s table over `partitions` (days in `timezone`)."""
    key = spec.asset_key
    columns = rules.columns_checked(spec) | set(references)
    if MATCHES_RAW in names:
        columns |= set(SILVER_RAW_COLUMNS)
    rows = _lake_rows(lake, spec, partitions, columns)
    yield to_result(key, UNIQUE_KEY, rules.unique_key(rows, spec), partitions)
    yield to_result(key, VALID_VALUES, rules.valid_values(rows, spec, timezone), partitions)
    if MATCHES_RAW in names:
        outcome = silver_matches_raw(_raw_items(lake, partitions), rows)
        yield to_result(key, MATCHES_RAW, outcome, partitions)
    if references:
        yield to_result(key, KEYS_IN_DIMENSIONS, _references(postgres, rows, references), partitions)
    if MATCHES_SILVER in names:
        yield to_result(key, MATCHES_SILVER, _matches_silver(postgres, partitions), partitions)


def _lake_rows(
    lake: LakeResource, spec: TableSpec, partitions: Sequence[str], columns: Collection[str]
) -> DayBatches:
    """The partitions' rows, only `columns` of them (what the checks read), a batch of days at a time as the
    rules go through them."""
    path, read = [spec.schema, spec.name], spec.projected(columns)
    return DayBatches(partitions, lambda keys: lake.read_table_partitions(path, keys, read))


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


def _references(
    postgres: PostgresResource,
    rows: DayBatches,
    references: Mapping[str, tuple[TableSpec, str]],
) -> rules.Outcome:
    missing: dict[str, list[pd.DataFrame]] = {}
    with postgres.connect() as conn:
        for batch in rows.batches():
            frame = whole_frame(batch)
            for column, (dimension, key) in references.items():
                present = existing_keys(conn, dimension, key, frame[column].dropna().unique().tolist())
                name = f"{column} -> {dimension.qualified_name}"
                missing.setdefault(name, []).append(rules.missing_references(frame[column], present))
    return rules.references_exist({name: _add_up(parts) for name, parts in missing.items()})


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
