"""A table's frames and Arrow tables: `conform` gives a frame exactly a `TableSpec`'s shape, `to_arrow`
turns a frame into an Arrow table of its schema, `empty_frame` is a table's frame without rows, and
`DayFrames` holds a batch of days' rows as one frame: what the lake reads, the builders make and the writers
take.

Kept apart from `table_spec.py` so that the specs (which the Dagster definitions read) load without pandas
and pyarrow; the transforms and storage that handle rows import these.

Held as a frame per day, a batch would be split by the lake's read, concatenated again for gold's build, split
into days again, and concatenated and converted again for the lake and again for COPY; each split or
concatenation of a 35-column frame costs about a millisecond, paid for every day of every table of a long
range. `DayFrames` is a `{day: frame}` mapping that keeps the batch as one frame in day order (`whole`) with
each day's row count: a day's frame is sliced only when it is looked up, the whole batch is taken as it is,
and its Arrow table is made once (`arrow`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
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
    # Items named as Parquet names them: a table read back from its object has the schema it was written with.
    "text[]": pa.list_(pa.field("element", pa.string())),
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


class DayFrames(Mapping[str, pd.DataFrame]):
    """`{day: frame}` held as one frame: `whole` holds the days' rows one day after the other, in the order
    of `counts` (day -> its rows).

    Example:
        ```python
        batch = DayFrames.of({"2026-11-27": friday, "2026-11-28": saturday})
        batch.whole  # both days' rows, Friday's first
        batch["2026-11-28"]  # Saturday's rows, sliced when asked for
        ```
    """

    def __init__(self, whole: pd.DataFrame, counts: Mapping[str, int]) -> None:
        if sum(counts.values()) != len(whole):
            raise ValueError(f"{len(whole)} rows for days holding {sum(counts.values())}")
        self.whole = whole
        self.counts = dict(counts)
        sizes = np.array(list(self.counts.values()), dtype=np.int64)
        ends = np.cumsum(sizes)
        starts = ends - sizes
        self._bounds = dict(zip(self.counts, zip(starts.tolist(), ends.tolist(), strict=True), strict=True))
        self._arrow: tuple[TableSpec, pa.Table] | None = None

    @classmethod
    def of(cls, frames: Mapping[str, pd.DataFrame], spec: TableSpec | None = None) -> DayFrames:
        """`frames` in day order as one frame (conformed to `spec` when given); a `DayFrames` already in day
        order as it is."""
        if isinstance(frames, DayFrames) and list(frames) == sorted(frames):
            return frames
        days = sorted(frames)
        parts = [frames[day] for day in days if len(frames[day])]
        if parts:
            whole = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        else:
            first = next(iter(frames.values()), pd.DataFrame())
            whole = empty_frame(spec) if spec is not None else first.head(0)
        if spec is not None:
            whole = conform(whole, spec)
        return cls(whole, {day: len(frames[day]) for day in days})

    @classmethod
    def split(cls, rows: pd.DataFrame, row_days: np.ndarray, days: Sequence[str]) -> DayFrames:
        """`rows`, whose days (`row_days`, ISO strings, ascending) are among `days`, as each day's."""
        starts = np.searchsorted(row_days, days, "left")
        ends = np.searchsorted(row_days, days, "right")
        outside = len(rows) - int((ends - starts).sum())
        if outside:
            raise ValueError(f"{outside} rows belong to none of the days {days[0]}..{days[-1]}")
        return cls(rows, dict(zip(days, (ends - starts).tolist(), strict=True)))

    def select_columns(self, names: Sequence[str]) -> DayFrames:
        """The same days with only the columns `names`, in the frame's order (taken from the one frame)."""
        wanted = set(names)
        missing = wanted - set(self.whole.columns)
        if missing:
            raise KeyError(f"no columns {sorted(missing)} among {list(self.whole.columns)}")
        ordered = [name for name in self.whole.columns if name in wanted]
        return DayFrames(self.whole.loc[:, ordered], self.counts)

    def memory_bytes(self) -> int:
        """About what the frame's columns take (an object column counted by its references, not objects)."""
        return int(self.whole.memory_usage(index=False, deep=False).sum())

    def __getitem__(self, day: str) -> pd.DataFrame:
        start, end = self._bounds[day]
        return self.whole.iloc[start:end].reset_index(drop=True)

    def __iter__(self) -> Iterator[str]:
        return iter(self.counts)

    def __len__(self) -> int:
        return len(self.counts)

    def row_days(self) -> np.ndarray:
        """Each row's day (ISO string), aligned with `whole`."""
        return np.repeat(np.array(list(self.counts), dtype=object), list(self.counts.values()))

    def arrow(self, spec: TableSpec) -> pa.Table:
        """`whole` as an Arrow table of the spec's schema, converted once."""
        if self._arrow is None or self._arrow[0] != spec:
            self._arrow = (spec, to_arrow(self.whole, spec))
        return self._arrow[1]

    def arrow_days(self, spec: TableSpec) -> Iterator[tuple[str, pa.Table]]:
        """Each day's rows of `arrow(spec)`: slices of the one table, no copy."""
        table = self.arrow(spec)
        for day, (start, end) in self._bounds.items():
            yield day, table.slice(start, end - start)


def whole_frame(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """All of `frames`' rows in one frame, in their order: a `DayFrames`'s own, else concatenated."""
    if isinstance(frames, DayFrames):
        return frames.whole
    return DayFrames.of(dict(frames)).whole if list(frames) != sorted(frames) else _concat(frames)


def _concat(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    parts = [frame for frame in frames.values() if len(frame)]
    if not parts:
        return next(iter(frames.values()), pd.DataFrame()).head(0)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
