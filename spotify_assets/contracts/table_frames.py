"""A table's frames and Arrow tables: `conform` gives a frame exactly a `TableSpec`'s shape, `to_arrow` turns
a frame into an Arrow table of its schema, `empty_frame` is a table's frame without rows.

Kept apart from `table_spec.py` so that the specs (which the Dagster definitions read) load without pandas
and pyarrow; the transforms and storage that handle rows import these.
"""

from __future__ import annotations

import functools

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from spotify_assets.contracts.table_spec import PANDAS_DTYPES, Column, TableSpec
from spotify_assets.contracts.text import NUL, REPLACEMENT

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


def empty_frame(spec: TableSpec) -> pd.DataFrame:
    """A frame with the spec's columns and dtypes and no rows."""
    # Made once per spec (casting every column took milliseconds, paid for each empty day of a long range);
    # pandas' copy-on-write keeps the kept frame unchanged whatever a caller does to its copy.
    return _empty_frame(spec).copy(deep=False)


@functools.lru_cache(maxsize=64)
def _empty_frame(spec: TableSpec) -> pd.DataFrame:
    return conform(pd.DataFrame({name: [] for name in spec.column_names}), spec)


def table_without_nul(table: pa.Table) -> pa.Table:
    """The string columns of an Arrow table with NUL replaced by U+FFFD (columns without one untouched)."""
    for index, column in enumerate(table.columns):
        is_text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        if is_text and pc.any(pc.match_substring(column, NUL)).as_py():
            replaced = pc.replace_substring(column, NUL, REPLACEMENT)
            table = table.set_column(index, table.schema.field(index), replaced)
    return table
