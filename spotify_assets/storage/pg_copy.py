"""PostgreSQL binary COPY, encoded from Arrow: `copy_arrow` streams tables into a table in binary chunks.

Rows are encoded column by column with Arrow and numpy (no per-row Python) and sent in chunks while the next
one is encoded; measured against the alternatives (CSV chunks with array literals, `psql \\copy` of a CSV
file), it is the fastest: less for Python to render, and no text for the server to parse.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from spotify_assets.tables import TableSpec, to_arrow

CHUNK_ROWS = 65_536
"""Rows per COPY chunk: large enough for vectorized encoding, small enough to stay in the CPU caches."""


# PostgreSQL binary COPY: a signature, then per row an int16 field count and per field an int32 byte length
# (-1 for NULL) and the value in the type's binary form (big-endian), then an int16 -1 trailer.
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_TRAILER = b"\xff\xff"
_NULL = pa.scalar(b"\xff\xff\xff\xff", pa.binary())
_PG_EPOCH_MS = 946_684_800_000  # 2000-01-01T00:00Z, PostgreSQL's epoch, in Unix milliseconds
_PG_EPOCH_DAYS = 10_957
_TEXT_OID = 25
_FIXED = {
    "bigint": ">i8",
    "integer": ">i4",
    "smallint": ">i2",
    "boolean": "u1",
    "timestamptz": ">i8",
    "date": ">i4",
}


def _records(fields: dict[str, np.ndarray], rows: int) -> pa.Array:
    """Fixed-width per-row records, the numpy columns laid side by side, as a binary array (no copy)."""
    packed = np.empty(rows, dtype=[(name, values.dtype) for name, values in fields.items()])
    for name, values in fields.items():
        packed[name] = values
    offsets = np.arange(0, (rows + 1) * packed.itemsize, packed.itemsize, dtype=np.int32)
    return pa.Array.from_buffers(pa.binary(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(packed)])


def _null_where_missing(encoded: pa.Array, source: pa.Array) -> pa.Array:
    return pc.if_else(pc.is_valid(source), encoded, _NULL) if source.null_count else encoded


def _encode_fixed(array: pa.Array, pg_type: str) -> pa.Array:
    if pg_type == "timestamptz":
        values = (array.cast(pa.int64()).fill_null(0).to_numpy() - _PG_EPOCH_MS) * 1000
    elif pg_type == "date":
        values = array.cast(pa.int32()).fill_null(0).to_numpy() - _PG_EPOCH_DAYS
    else:
        values = array.fill_null(0 if pg_type != "boolean" else False).to_numpy(zero_copy_only=False)
    dtype = np.dtype(_FIXED[pg_type])
    width = np.full(len(array), dtype.itemsize, dtype=">i4")
    return _null_where_missing(_records({"n": width, "v": values.astype(dtype)}, len(array)), array)


def _encode_text(array: pa.Array) -> pa.Array:
    offsets = np.frombuffer(array.buffers()[1], np.int32, len(array) + 1, array.offset * 4)
    lengths = _records({"n": np.diff(offsets).astype(">i4")}, len(array))
    encoded = pc.binary_join_element_wise(lengths, array.cast(pa.binary()), b"")
    return encoded.fill_null(_NULL) if array.null_count else encoded


def _encode_text_array(array: pa.Array) -> pa.Array:
    """text[] values: a 1-d array header (or the 0-d header of an empty array), then the elements."""
    list_offsets = array.offsets.to_numpy()
    first = int(list_offsets[0])
    list_offsets = list_offsets - first  # a slice shares its parent's values: rebase onto this slice's
    values = array.values.slice(first, int(list_offsets[-1]))
    elements = _encode_text(values)
    element_bytes = np.concatenate([[0], np.cumsum(pc.binary_length(elements).to_numpy())])
    null_elements = np.concatenate([[0], np.cumsum(values.is_null().to_numpy(zero_copy_only=False))])
    starts, ends = list_offsets[:-1], list_offsets[1:]
    counts = ends - starts
    nonempty = counts > 0
    header = {
        "n": np.where(nonempty, 20, 12) + element_bytes[ends] - element_bytes[starts],
        "ndim": nonempty,
        "has_null": null_elements[ends] > null_elements[starts],
        "oid": np.full(len(array), _TEXT_OID),
        "size": counts,
        "lower_bound": np.ones(len(array)),
    }
    headers = _records({name: values.astype(">i4") for name, values in header.items()}, len(array))
    if not nonempty.all():
        headers = pc.if_else(pa.array(nonempty), headers, pc.binary_slice(headers, 0, 16))
    lists = pa.ListArray.from_arrays(pa.array(list_offsets, pa.int32()), elements)
    encoded = pc.binary_join_element_wise(headers, pc.binary_join(lists, b""), b"")
    return _null_where_missing(encoded, array)


def encode_binary_rows(data: pa.Table, spec: TableSpec) -> pa.Buffer:
    """Rows of an Arrow table (the spec's schema) as PostgreSQL binary COPY tuples, vectorized."""
    rows = data.num_rows
    fields = [_records({"n": np.full(rows, data.num_columns, dtype=">i2")}, rows)]
    for name in data.column_names:
        array, pg_type = data.column(name).combine_chunks(), spec.column(name).pg_type
        if pg_type == "text":
            fields.append(_encode_text(array))
        elif pg_type == "text[]":
            fields.append(_encode_text_array(array))
        else:
            fields.append(_encode_fixed(array, pg_type))
    tuples = pc.binary_join_element_wise(*fields, b"")
    offsets = np.frombuffer(tuples.buffers()[1], np.int32, rows + 1, tuples.offset * 4)
    return tuples.buffers()[2][int(offsets[0]) : int(offsets[-1])]


def copy_arrow(
    cursor: psycopg.Cursor,
    table: sql.Composable,
    data: pa.Table | Iterable[pa.Table],
    spec: TableSpec,
    chunk_rows: int | None = None,
) -> int:
    """COPY an Arrow table, or a stream of them (the spec's schema, the same columns), into `table` as one
    COPY of streamed binary chunks; return the rows copied. A stream is consumed as it is sent, so a range
    of big partitions is never held whole."""
    parts = iter([data] if isinstance(data, pa.Table) else data)
    first = next((part for part in parts if part.num_rows), None)
    if first is None:
        return 0
    chunk_rows = chunk_rows or CHUNK_ROWS
    columns = first.column_names
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        table, sql.SQL(", ").join(sql.Identifier(name) for name in columns)
    )
    rows = 0
    # The queued writer sends from a worker thread while this one encodes the next chunk (Arrow and numpy
    # release the GIL), so the server stores one chunk while Python encodes the next.
    with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        copy.write(_SIGNATURE)
        for part in itertools.chain([first], parts):
            if part.column_names != columns:
                raise ValueError(f"COPY into {spec.qualified_name}: tables with different columns")
            for start in range(0, part.num_rows, chunk_rows):
                copy.write(encode_binary_rows(part.slice(start, chunk_rows), spec))
            rows += part.num_rows
        copy.write(_TRAILER)
    return rows


def copy_frame(
    cursor: psycopg.Cursor,
    table: sql.Composable,
    frame: pd.DataFrame,
    spec: TableSpec,
    chunk_rows: int | None = None,
) -> int:
    """COPY a frame into `table` (the spec's columns) with streamed binary COPY; return the rows copied."""
    return copy_arrow(cursor, table, to_arrow(frame, spec), spec, chunk_rows)
