"""What a table IO manager addresses: an asset's table contract and the partitions of one output or input.

As in Dagster's `DbIOManager`, the IO manager only maps a context to a `TableSlice`; the SQL is the client's
(`warehouse`, `warehouse_write`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

from spotify_assets.contracts.tables import TABLES, TableSpec

UNPARTITIONED = ""
"""The key of an unpartitioned (upsert-only) output in `{partition key: frame}`."""


def table_spec(asset_key: dg.AssetKey | Sequence[str]) -> TableSpec:
    """The table contract of a silver/gold asset: `tables.TABLES["<layer>.<table>"]`."""
    name = ".".join(asset_key.path if isinstance(asset_key, dg.AssetKey) else asset_key)
    if name not in TABLES:
        raise KeyError(f"no table spec for asset {name!r}; known tables: {sorted(TABLES)}")
    return TABLES[name]


@dataclass(frozen=True)
class TableSlice:
    """A table and the partitions one output writes or one input reads (None: the whole table)."""

    spec: TableSpec
    partition_keys: tuple[str, ...] | None

    @classmethod
    def of_output(cls, context: dg.OutputContext) -> TableSlice:
        """The output's table and its run's partitions (one day or a range), None when unpartitioned."""
        keys = tuple(context.asset_partition_keys) if context.has_asset_partitions else None
        return cls(table_spec(context.asset_key), keys)

    @classmethod
    def of_input(cls, context: dg.InputContext) -> TableSlice:
        """The input's table and the partitions it reads; an upsert table (not stored by partition) whole."""
        spec = table_spec(context.asset_key)
        partitioned = spec.write_mode == "replace_partition" and context.has_asset_partitions
        return cls(spec, tuple(context.asset_partition_keys) if partitioned else None)
