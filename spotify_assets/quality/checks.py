"""Asset checks: read the checked partitions' rows and apply the rules of `spotify_assets.quality.rules`.

Every check runs in the same run as its asset, right after it: silver's as one step, the gold tables' as one
step after the gold assets (each check still its own in the UI and executable alone). Blocking checks (keys,
values, reconciliation, referential integrity) stop the downstream assets of the run when they fail; the raw
captures' checks (`raw_checks`: gaps, every listener captured, tokens fresh) are non-blocking.

Partitions: the checks are not partitioned themselves (a partitioned check, a preview feature in Dagster
1.13, records no partition when its run covers a range). Each evaluation covers the run's partitions, one day
or a single-run range, and names them in its metadata (`partitions`). A check launched on its own without a
partition (the UI's "Execute" button) checks the partition of the asset's latest materialization.

Where the rows come from: an asset's own rows are read from the lake objects the run wrote (what downstream
assets load, with no constraint to protect them); cross-table rules read the warehouse (what BI reads):
the fact's and the bridge's keys against the dimensions, and silver's plays against the fact's. Reading and
judging them is `table_evaluation`'s, imported when a check runs: the definitions load without pandas.
"""

# No `from __future__ import annotations`: Dagster reads the resource annotations at runtime.

from collections.abc import Iterable, Sequence

import dagster as dg

from spotify_assets.contracts.tables import (
    FACT_RECENTLY_PLAYED,
    PLAYS,
    TABLES,
    TableSpec,
    gold_tables,
)
from spotify_assets.quality.check_results import checked_partitions, nothing_to_check
from spotify_assets.quality.raw_checks import raw_capture_checks
from spotify_assets.storage.lake import LakeResource
from spotify_assets.storage.postgres import PostgresResource

UNIQUE_KEY = "unique_key"
VALID_VALUES = "valid_values"
MATCHES_RAW = "matches_raw"
MATCHES_SILVER = "matches_silver"
KEYS_IN_DIMENSIONS = "keys_in_dimensions"
SILVER_CHECKS = "silver_plays_checks"
GOLD_CHECKS = "gold_checks"
"""The gold tables' checks run as one step after the gold step: a step per table would cost a run Dagster's
start and end of six steps more, and no gold table waits on another's checks (only the report does)."""


def references_of(spec: TableSpec) -> dict[str, tuple[TableSpec, str]]:
    """The spec's foreign keys, checked by `keys_in_dimensions`: column -> (dimension, its key column)."""
    return {column: (TABLES[dimension], key) for column, dimension, key in spec.references}


def table_check_specs(spec: TableSpec) -> list[dg.AssetCheckSpec]:
    """The checks of one table: unique key and valid values for every table; reconciliation with raw for
    silver; referential integrity for the fact and the bridge (after the dimensions of the same run);
    reconciliation with silver for the fact."""
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
    return specs


def build_table_checks(tables: Sequence[TableSpec], name: str, timezone: str) -> dg.AssetChecksDefinition:
    """The checks of `tables` (`table_check_specs`) as one step named `name`, judging days in the partitions'
    `timezone`; each check still its own in the UI and executable alone."""
    specs = {spec.asset_key: table_check_specs(spec) for spec in tables}

    @dg.multi_asset_check(
        name=name, specs=[check for checks in specs.values() for check in checks], can_subset=True
    )
    def table_checks(
        context: dg.AssetCheckExecutionContext, lake: LakeResource, postgres: PostgresResource
    ) -> Iterable[dg.AssetCheckResult]:
        from spotify_assets.quality.table_evaluation import evaluate  # pandas: see LAZY_IMPORTS

        selected = context.selected_asset_check_keys
        for spec in tables:
            key = spec.asset_key
            names = [check.name for check in specs[key] if check.key in selected]
            if not names:
                continue
            partitions = checked_partitions(context, key)
            if not partitions:
                yield from nothing_to_check(key, names)
                continue
            yield from evaluate(spec, names, references_of(spec), timezone, partitions, lake, postgres)

    return table_checks


def build_checks(partitions: dg.DailyPartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    """Every asset check of the project, judging days in the time zone of `partitions`."""
    timezone = partitions.timezone
    return [
        raw_capture_checks,
        build_table_checks([PLAYS], SILVER_CHECKS, timezone),
        build_table_checks(gold_tables(), GOLD_CHECKS, timezone),
    ]
