"""What a table is: `TableSpec` (columns, PostgreSQL types, key, write mode, asset key).

The project's tables themselves are declared in `tables.py`, the registry; the helpers that give a frame
exactly a spec's shape or turn it into Arrow are `table_frames.py`'s (pandas and pyarrow, which the
definitions do not load: a step does).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import dagster as dg

WriteMode = Literal["replace_partition", "upsert"]

PANDAS_DTYPES: dict[str, str] = {
    "text": "string",
    "bigint": "Int64",
    "integer": "Int64",
    "smallint": "Int64",
    "boolean": "boolean",
    "timestamptz": "datetime64[ms, UTC]",
    "date": "object",  # datetime.date values: Parquet date32, PostgreSQL date
    "text[]": "object",  # lists of str
}


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str
    description: str
    nullable: bool = True


@dataclass(frozen=True)
class TableSpec:
    """One warehouse/lake table.

    `replace_partition` tables hold `partition_column`; a write replaces exactly the written partitions' rows.
    `upsert` tables merge by primary key: `least_columns` keep the smallest value seen, `greatest_columns` the
    largest, and every other column is taken from the row with the newest `recency_column` (or the incoming
    row when there is none), so the order in which partitions are written does not matter.

    `references` are foreign keys, `(column, dimension "schema.table", its key column)`, which the
    `keys_in_dimensions` check verifies. A gold table's rows are made by its builder, a pure function of
    `transforms.gold.GOLD_BUILDERS` (the transforms import the specs, so the specs do not name them).
    """

    schema: str
    name: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    write_mode: WriteMode
    partition_column: str | None = None
    least_columns: tuple[str, ...] = ()
    greatest_columns: tuple[str, ...] = ()
    recency_column: str | None = None
    references: tuple[tuple[str, str, str], ...] = ()
    column_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))
        named = {*self.primary_key, *self.least_columns, *self.greatest_columns}
        named |= {name for name in (self.recency_column, self.partition_column) if name}
        named |= {column for column, _, _ in self.references}
        unknown = named - set(self.column_names)
        if unknown:
            raise ValueError(f"{self.qualified_name}: unknown columns {sorted(unknown)}")
        # pg types go into DDL as SQL text, so only the known ones are allowed.
        if bad_types := {c.pg_type for c in self.columns} - set(PANDAS_DTYPES):
            raise ValueError(f"{self.qualified_name}: unsupported column types {sorted(bad_types)}")
        if self.write_mode == "replace_partition" and self.partition_column not in self.column_names:
            raise ValueError(f"{self.qualified_name}: replace_partition needs a partition column")

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def asset_key(self) -> dg.AssetKey:
        """`[schema, name]`: the asset that stores this table (the lake prefix and the warehouse table)."""
        return dg.AssetKey([self.schema, self.name])

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def projected(self, names: Iterable[str]) -> TableSpec:
        """The table with only the columns `names`, in the table's order: the shape of a read of some of its
        columns (conformed as the table's, without a key: such rows are read, never written)."""
        wanted = set(names)
        if unknown := sorted(wanted - set(self.column_names)):
            raise ValueError(f"{self.qualified_name} has no columns {unknown}")
        columns = tuple(c for c in self.columns if c.name in wanted)
        return TableSpec(self.schema, self.name, self.description, columns, (), "upsert")


BATCH_ROWS = 65_536
"""The lake reads partitions into frames in groups of about this many rows: a conversion costs milliseconds
whatever its size, so a year of small daily partitions takes a few conversions, not 365, while a range of big
partitions never holds more than one group twice (as pandas and as Arrow)."""
