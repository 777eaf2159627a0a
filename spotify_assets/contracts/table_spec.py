"""What a table is: `TableSpec` (columns, PostgreSQL types, key, write mode, asset key) and the
helpers that give a frame exactly a spec's shape (`conform`) or turn it into Arrow.

The project's tables themselves are declared in `tables.py`, the registry.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

import dagster as dg
import pandas as pd
import pyarrow as pa

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

ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "boolean": pa.bool_(),
    "timestamptz": pa.timestamp("ms", tz="UTC"),
    "date": pa.date32(),
    "text[]": pa.list_(pa.string()),
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
        if bad_types := {c.pg_type for c in self.columns} - set(ARROW_TYPES):
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


_TARGET_DTYPES = {
    pg_type: pd.api.types.pandas_dtype(dtype) for pg_type, dtype in PANDAS_DTYPES.items() if dtype != "object"
}


def _nulls_are_none(values: pd.Series) -> bool:
    """Whether an object column's missing values are all None already (not NaN, NA or NaT)."""
    array = values.to_numpy(dtype=object)
    missing = pd.isna(array)
    return not missing.any() or all(value is None for value in array[missing])


def _null_column(column: Column, index: pd.Index) -> pd.Series:
    """A column of nulls of the column's dtype (None for object columns)."""
    target = _TARGET_DTYPES.get(column.pg_type)
    if target is None:
        return pd.Series([None] * len(index), index=index, dtype=object)
    return pd.Series(pd.NaT if column.pg_type == "timestamptz" else pd.NA, index=index, dtype=target)


def conform(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Return `frame` with exactly the spec's columns, in order, cast to their dtypes (missing ones null)."""
    missing = [name for name in spec.column_names if name not in frame.columns]
    if missing:  # created null and already typed: casting a column of pd.NA objects costs per row
        frame = frame.assign(**{name: _null_column(spec.column(name), frame.index) for name in missing})
    # No .copy(): pandas' copy-on-write keeps `frame` unchanged, and a column already of its dtype is not cast
    # again (a million-row frame would otherwise be copied whole on every call, and the many small frames of
    # a long range would pay pandas' per-column overhead many times over).
    out = frame if list(frame.columns) == list(spec.column_names) else frame.loc[:, list(spec.column_names)]
    cast: dict[str, pd.Series] = {}
    for column in spec.columns:
        values = out[column.name]
        target = _TARGET_DTYPES.get(column.pg_type)
        if target is None:  # object: datetime.date values or lists, nulls as None
            if values.dtype == object and (column.name in missing or _nulls_are_none(values)):
                continue
            values = values.astype("object")
            cast[column.name] = values.where(values.notna(), None)
        elif values.dtype == target:
            continue
        elif column.pg_type == "timestamptz":
            cast[column.name] = pd.to_datetime(values, utc=True, format="ISO8601").astype(target)
        else:
            cast[column.name] = values.astype(target)
    if cast:
        out = out.assign(**cast)
    index = out.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return out if out is not frame else out.copy(deep=False)
    return out.reset_index(drop=True)


def arrow_schema(spec: TableSpec) -> pa.Schema:
    """The Arrow (and so Parquet) schema of a table: typed even when a column is all null."""
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.pg_type], nullable=c.nullable) for c in spec.columns])


def to_arrow(frame: pd.DataFrame, spec: TableSpec) -> pa.Table:
    """A conformed frame as an Arrow table with the spec's schema."""
    return pa.Table.from_pandas(conform(frame, spec), schema=arrow_schema(spec), preserve_index=False)


BATCH_ROWS = 65_536
"""Partitions are converted between pandas and Arrow in groups of about this many rows: a conversion costs
milliseconds whatever its size, so a year of small daily partitions takes a few conversions, not 365, while
a range of big partitions never holds more than one group twice (as pandas and as Arrow)."""


def batches(sizes: Mapping[str, int], rows: int = BATCH_ROWS) -> Iterator[list[str]]:
    """Consecutive groups of keys whose sizes add up to about `rows` (at least one key each)."""
    group: list[str] = []
    total = 0
    for key, size in sizes.items():
        group.append(key)
        total += size
        if total >= rows:
            yield group
            group, total = [], 0
    if group:
        yield group


def to_arrow_partitions(
    frames: Mapping[str, pd.DataFrame], spec: TableSpec
) -> Iterator[tuple[str, pa.Table]]:
    """`(key, to_arrow(frame, spec))` for each frame, in order, converted in `batches` (then sliced)."""
    for group in batches({key: len(frame) for key, frame in frames.items()}):
        filled = [frames[key] for key in group if len(frames[key])]
        if len(filled) < 2:
            yield from ((key, to_arrow(frames[key], spec)) for key in group)
            continue
        table = to_arrow(pd.concat(filled, ignore_index=True), spec)
        start = 0
        for key in group:
            yield key, table.slice(start, len(frames[key]))
            start += len(frames[key])


_EMPTY_FRAMES: dict[TableSpec, pd.DataFrame] = {}


def empty_frame(spec: TableSpec) -> pd.DataFrame:
    """A frame with the spec's columns and dtypes and no rows."""
    empty = _EMPTY_FRAMES.get(spec)
    if empty is None:  # built once per spec: conforming 37 empty columns costs milliseconds, every day
        empty = _EMPTY_FRAMES[spec] = conform(pd.DataFrame({name: [] for name in spec.column_names}), spec)
    return empty.copy(deep=False)  # copy-on-write: a caller's change never reaches the shared frame
