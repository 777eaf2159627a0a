"""The lake's file formats: silver/gold tables as Parquet or CSV, to and from bytes.

Tables are encoded from Arrow (a `DayFrames`'s table, a slice per day) and decoded to Arrow, then to frames
conformed to their `TableSpec`; the same frame always gives the same bytes (for one installed pyarrow). Where
the bytes are stored is `lake.LakeResource`'s business; raw JSON and the formats' names are
`object_formats`' (no pandas or pyarrow: the definitions import the lake without them).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from spotify_assets.contracts.table_frames import ARROW_TYPES, DayFrames, conform
from spotify_assets.contracts.tables import TableSpec

_JSON_LIST: dict[str, Any] = {"ensure_ascii": False, "separators": (",", ":")}
# Pinned so that the same frame always gives the same bytes (pyarrow writes no timestamps; its created_by
# string names the pyarrow version, so bytes are stable for one installed version).
_PARQUET_OPTIONS: dict[str, Any] = {
    "version": "2.6",
    "compression": "snappy",
    "use_dictionary": True,
    "write_statistics": True,
    "store_schema": True,
    "data_page_version": "1.0",
}


def _check_required_columns(table: pa.Table, spec: TableSpec) -> None:
    """Columns that may not be null must be in the object: read as all null, they would fail far later."""
    stored = set(table.column_names)  # made once: the property builds a new list each time
    missing = [c.name for c in spec.columns if not c.nullable and c.name not in stored]
    if missing:
        raise ValueError(f"missing non-null columns {missing}")


def _list_columns(spec: TableSpec) -> list[str]:
    return [c.name for c in spec.columns if c.pg_type == "text[]"]


class EncodedTables:
    """The Parquet objects this process encoded, by their bytes, each with the table it was encoded from.

    A range run reads back most of what it wrote (silver's days by the six gold assets, every table's days by
    its checks); an object whose bytes are the ones this process encoded is given the table it came from
    instead of being decoded again (the same table: `test_lake.py` compares both for every table). The bytes
    are the key, so an object someone else rewrote (other bytes) is decoded as usual. Only objects of at most
    `object_bytes` (table and bytes) are kept: decoding costs a small object mostly its fixed cost, a large
    one little next to its rows' memory. At most `limit_bytes` in all; the least recently used go first.
    """

    def __init__(self, limit_bytes: int, object_bytes: int) -> None:
        self.limit_bytes, self.object_bytes = limit_bytes, object_bytes
        self._tables: OrderedDict[bytes, tuple[pa.Table, int]] = OrderedDict()
        self._bytes = 0

    def remember(self, data: bytes, table: pa.Table, size: int) -> None:
        """Keep `table` for the object `data` encoded it into; `size`: its bytes and its table's."""
        if size > self.object_bytes or data in self._tables:
            return
        self._tables[data] = (table, size)
        self._bytes += size
        while self._bytes > self.limit_bytes:
            _, (_, old_size) = self._tables.popitem(last=False)
            self._bytes -= old_size

    def recall(self, data: bytes) -> pa.Table | None:
        kept = self._tables.get(data)
        if kept is None:
            return None
        self._tables.move_to_end(data)
        return kept[0]

    def clear(self) -> None:
        self._tables.clear()
        self._bytes = 0


ENCODED = EncodedTables(limit_bytes=256 * 2**20, object_bytes=256 * 2**10)
"""This process's encoded objects (a day's slice of a batch's table each): a day of a few hundred plays is
kept (a silver day of 100 plays is about 20 KiB), a decade of them fits; a day of thousands is decoded."""


def _encode_parquet(table: pa.Table, spec: TableSpec) -> bytes:
    # Without pandas' metadata (which names the pandas version): the spec, not pandas, defines the types.
    table = table.replace_schema_metadata(None)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **_PARQUET_OPTIONS)
    return sink.getvalue().to_pybytes()


def _decode_parquet(data: bytes, spec: TableSpec) -> pa.Table:
    encoded = ENCODED.recall(data)
    if encoded is not None:
        kept = set(encoded.column_names)
        return encoded.select([name for name in spec.column_names if name in kept])
    # ParquetFile, not pq.read_table: that builds a dataset per call, 8x the cost of a small day's object.
    file = pq.ParquetFile(pa.BufferReader(data))
    # Only the spec's columns are decoded: a spec of a few columns (`TableSpec.projected`) reads those alone.
    stored = set(file.schema_arrow.names)
    # In this thread: waking Arrow's thread pool for a day's few rows costs more than it saves (a decade's
    # import decodes ~60,000 objects; 1.5x the decode each on a busy 2-core machine).
    return file.read(columns=[name for name in spec.column_names if name in stored], use_threads=False)


def _encode_csv(table: pa.Table, spec: TableSpec) -> bytes:
    for name in _list_columns(spec):
        values = [None if v is None else json.dumps(v, **_JSON_LIST) for v in table[name].to_pylist()]
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values, pa.string()))
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=True))
    return sink.getvalue().to_pybytes()


def _decode_csv(data: bytes, spec: TableSpec) -> pa.Table:
    lists = set(_list_columns(spec))
    types = {c.name: pa.string() if c.name in lists else ARROW_TYPES[c.pg_type] for c in spec.columns}
    table = _read_csv(data, types)
    table = table.select([name for name in spec.column_names if name in table.column_names])
    for name in lists & set(table.column_names):
        values = [None if v is None else json.loads(v) for v in table[name].to_pylist()]
        table = table.set_column(
            table.schema.get_field_index(name), name, pa.array(values, pa.list_(pa.string()))
        )
    return table


def _read_csv(data: bytes, types: dict[str, pa.DataType]) -> pa.Table:
    return pacsv.read_csv(
        pa.BufferReader(data),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["true"],
            false_values=["false"],
        ),
    )


_PANDAS_TYPES = {
    pa.string(): pd.StringDtype(),
    pa.int16(): pd.Int64Dtype(),
    pa.int32(): pd.Int64Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def to_frame(table: pa.Table, spec: TableSpec) -> pd.DataFrame:
    lists = [name for name in _list_columns(spec) if name in table.column_names]
    frame = table.drop_columns(lists).to_pandas(types_mapper=_PANDAS_TYPES.get)
    for name in lists:
        # Python lists, as the transforms produce them (to_pandas would give numpy arrays).
        frame[name] = pd.Series(_shared_lists(table[name]), index=frame.index, dtype="object")
    return conform(frame, spec)


def _shared_lists(column: pa.ChunkedArray) -> np.ndarray:
    """A list<string> column as Python lists (None where null), one list object per distinct value.

    Rows repeat a few lists (a track's artists), so a million rows get thousands of list objects, not
    millions. Rows share them: treat them as read-only, as the transforms do.
    """
    array = column.combine_chunks()
    out = np.full(len(array), None, dtype=object)
    if not len(array) or array.null_count == len(array):
        return out
    # Each list's identity: its elements' dictionary codes (-1 for a null element) joined with ",".
    offsets = array.offsets.to_numpy()
    values = array.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    codes = pc.cast(pc.dictionary_encode(values).indices.fill_null(-1), pa.string())
    keyed = pa.ListArray.from_arrays(pa.array(offsets - offsets[0], pa.int32()), codes, mask=array.is_null())
    keys = pc.dictionary_encode(pc.binary_join(keyed, ",")).indices
    valid = keys.is_valid().to_numpy(zero_copy_only=False)
    index = keys.fill_null(0).to_numpy()
    distinct, first = np.unique(index[valid], return_index=True)
    shared = np.empty(len(distinct), dtype=object)
    shared[:] = array.filter(pa.array(valid)).take(pa.array(first)).to_pylist()
    out[valid] = shared[np.searchsorted(distinct, index[valid])]
    return out


def to_frames(tables: Mapping[str, pa.Table], spec: TableSpec) -> DayFrames:
    """The tables (by day, in day order) as one conformed frame: converted together when their schemas
    agree, else one by one and then put together."""
    try:
        combined = pa.concat_tables(list(tables.values())) if len(tables) > 1 else None
    except pa.ArrowInvalid:  # objects written under different schemas (an older spec): one by one
        return DayFrames.of({key: to_frame(table, spec) for key, table in tables.items()}, spec)
    if combined is None:
        return DayFrames.of({key: to_frame(table, spec) for key, table in tables.items()}, spec)
    return DayFrames(to_frame(combined, spec), {key: table.num_rows for key, table in tables.items()})


def encode_table(table: pa.Table, spec: TableSpec, file_format: str) -> bytes:
    """A partition's Arrow table (the spec's schema) as the bytes of a `parquet` or `csv` object."""
    return _encode_parquet(table, spec) if file_format == "parquet" else _encode_csv(table, spec)


ENCODING_THREADS = 2
"""Days of a batch encoded at once: Arrow writes Parquet without holding the GIL (a batch of 31 small days
1.6x faster with two threads on 2 busy cores)."""


def encode_days(days: DayFrames, spec: TableSpec, file_format: str) -> dict[str, bytes]:
    """Each day's object of a batch, encoded from its slice of the batch's Arrow table; this process keeps
    the slices of Parquet objects (`ENCODED`) for its own reads of them."""
    # Without pandas' metadata, as the objects hold them and decode.
    slices = {key: table.replace_schema_metadata(None) for key, table in days.arrow_days(spec)}
    if file_format != "parquet":
        return {key: encode_table(table, spec, file_format) for key, table in slices.items()}
    if len(slices) < 2 * ENCODING_THREADS:  # a day or two: not worth starting threads for
        encoded = {key: _encode_parquet(table, spec) for key, table in slices.items()}
    else:
        with ThreadPoolExecutor(max_workers=ENCODING_THREADS) as pool:
            objects = pool.map(lambda table: _encode_parquet(table, spec), slices.values())
            encoded = dict(zip(slices, objects, strict=True))
    whole = days.arrow(spec)
    row_bytes = whole.nbytes / max(whole.num_rows, 1)  # a slice's own size costs a walk of its buffers
    for key, table in slices.items():
        ENCODED.remember(encoded[key], table, len(encoded[key]) + int(row_bytes * len(table)))
    return encoded


def decode_table(data: bytes, spec: TableSpec, file_format: str) -> pa.Table:
    """A `parquet` or `csv` object's bytes as an Arrow table; one lacking a NOT NULL column raises."""
    table = _decode_parquet(data, spec) if file_format == "parquet" else _decode_csv(data, spec)
    _check_required_columns(table, spec)
    return table
