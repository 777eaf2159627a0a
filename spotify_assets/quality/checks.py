"""Asset checks: read the checked partitions' rows and apply the rules of `spotify_assets.quality.rules`.

Every check runs in the same run as its asset, right after it. Blocking checks (keys, values, reconciliation,
referential integrity) stop the downstream assets of the run when they fail; the raw captures' checks
(`raw_checks`: gaps, every listener captured, tokens fresh) are non-blocking.

Partitions: the checks are not partitioned themselves (a partitioned check, a preview feature in Dagster
1.13, records no partition when its run covers a range). Each evaluation covers the run's partitions, one day
or a single-run range, and names them in its metadata (`partitions`). A check launched on its own without a
partition (the UI's "Execute" button) checks the partition of the asset's latest materialization.

Where the rows come from: an asset's own rows are read from the lake objects the run wrote (what downstream
assets load, with no constraint to protect them); cross-table rules read the warehouse (what BI reads):
the fact's and the bridge's keys against the dimensions, and silver's plays against the fact's.
"""

# No `from __future__ import annotations`: Dagster reads the resource annotations at runtime.

from collections.abc import Iterable, Mapping, Sequence

import dagster as dg
import pandas as pd

from spotify_assets.assets.raw import RAW_RECENTLY_PLAYED
from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.day_frames import whole_frame
from spotify_assets.contracts.tables import (
    FACT_RECENTLY_PLAYED,
    PLAYS,
    TABLES,
    TableSpec,
    gold_tables,
)
from spotify_assets.quality import rules
from spotify_assets.quality.check_results import checked_partitions, nothing_to_check, to_result
from spotify_assets.quality.raw_checks import (
    every_listener_captured,
    no_possible_gap,
    spotify_authorization_fresh,
)
from spotify_assets.quality.reconciliation import fact_matches_silver, silver_matches_raw
from spotify_assets.storage.lake import LakeResource
from spotify_assets.storage.postgres import PostgresResource
from spotify_assets.storage.raw_partitions import listener_json_partitions
from spotify_assets.storage.warehouse import existing_keys, read_table

UNIQUE_KEY = "unique_key"
VALID_VALUES = "valid_values"
MATCHES_RAW = "matches_raw"
MATCHES_SILVER = "matches_silver"
KEYS_IN_DIMENSIONS = "keys_in_dimensions"


def references_of(spec: TableSpec) -> dict[str, tuple[TableSpec, str]]:
    """The spec's foreign keys, checked by `keys_in_dimensions`: column -> (dimension, its key column)."""
    return {column: (TABLES[dimension], key) for column, dimension, key in spec.references}


def _lake_rows(lake: LakeResource, spec: TableSpec, partitions: Sequence[str]) -> DayBatches:
    """The partitions' rows, read a batch of days at a time as the rules go through them."""
    path = [spec.schema, spec.name]
    return DayBatches(partitions, lambda keys: lake.read_table_partitions(path, keys, spec))


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
        # Only the columns compared: a range of a million plays would not fit in memory as whole rows.
        silver = read_table(conn, PLAYS, partitions, columns=("listener_id", "played_at", "track_key"))
        fact = read_table(conn, FACT_RECENTLY_PLAYED, partitions, columns=("play_id",))
    return fact_matches_silver(silver, fact)


def build_table_checks(spec: TableSpec, timezone: str) -> dg.AssetChecksDefinition:
    """The checks of one table: unique key and valid values (days in the partitions' `timezone`) for every
    table; reconciliation with raw for silver; referential integrity for the fact and the bridge (after the
    dimensions of the same run); reconciliation with silver for the fact."""
    key = spec.asset_key
    references = references_of(spec)
    specs = [
        dg.AssetCheckSpec(
            UNIQUE_KEY,
            asset=key,
            blocking=True,
            description=f"({', '.join(spec.primary_key)}) is unique in each checked partition's rows.",
        ),
        dg.AssetCheckSpec(
            VALID_VALUES,
            asset=key,
            blocking=True,
            description="No nulls in NOT NULL columns; sane values (see spotify_assets/quality/rules.py).",
        ),
    ]
    if spec is PLAYS:
        specs.append(
            dg.AssetCheckSpec(
                MATCHES_RAW,
                asset=key,
                blocking=True,
                description="Every raw recently-played music play of the day is a silver play, and every "
                "recently-played silver row is in raw (exclusions: see "
                "spotify_assets/quality/reconciliation.py).",
            )
        )
    if references:
        dimensions = sorted({dimension.asset_key for dimension, _ in references.values()}, key=str)
        specs.append(
            dg.AssetCheckSpec(
                KEYS_IN_DIMENSIONS,
                asset=key,
                blocking=True,
                additional_deps=dimensions,
                description="Every key is in its dimension: "
                + ", ".join(f"{c} -> {d.qualified_name}" for c, (d, _) in references.items()),
            )
        )
    if spec is FACT_RECENTLY_PLAYED:
        specs.append(
            dg.AssetCheckSpec(
                MATCHES_SILVER,
                asset=key,
                blocking=True,
                description="The fact holds exactly the silver plays of each checked day (warehouse).",
            )
        )
    names = [s.name for s in specs]

    @dg.multi_asset_check(name=f"{spec.schema}_{spec.name}_checks", specs=specs)
    def table_checks(
        context: dg.AssetCheckExecutionContext, lake: LakeResource, postgres: PostgresResource
    ) -> Iterable[dg.AssetCheckResult]:
        partitions = checked_partitions(context, key)
        if not partitions:
            yield from nothing_to_check(key, names)
            return
        rows = _lake_rows(lake, spec, partitions)
        yield to_result(key, UNIQUE_KEY, rules.unique_key(rows, spec), partitions)
        yield to_result(key, VALID_VALUES, rules.valid_values(rows, spec, timezone), partitions)
        if MATCHES_RAW in names:
            outcome = silver_matches_raw(_raw_items(lake, partitions), rows)
            yield to_result(key, MATCHES_RAW, outcome, partitions)
        if references:
            yield to_result(key, KEYS_IN_DIMENSIONS, _references(postgres, rows, references), partitions)
        if MATCHES_SILVER in names:
            yield to_result(key, MATCHES_SILVER, _matches_silver(postgres, partitions), partitions)

    return table_checks


def build_checks(partitions: dg.DailyPartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    """Every asset check of the project, judging days in the time zone of `partitions`."""
    tables = [build_table_checks(spec, partitions.timezone) for spec in (PLAYS, *gold_tables())]
    return [no_possible_gap, every_listener_captured, spotify_authorization_fresh, *tables]
