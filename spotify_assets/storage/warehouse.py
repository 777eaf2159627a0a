"""All warehouse SQL: create tables from their specs, load frames with COPY, replace or upsert, read back.

Identifiers always go through `psycopg.sql.Identifier`. A write is one transaction per call, serialized per
table by an advisory lock, so two runs of one partition cannot double its rows. Rows are loaded with binary
COPY, encoded column by column with Arrow and numpy (no per-row Python) and streamed in chunks; measured
against the alternatives (CSV chunks with array literals, `psql \\copy` of a CSV file), it is the fastest:
less for Python to render, and no text for the server to parse.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from spotify_assets.day_batches import batches_of
from spotify_assets.storage.table_drift import columns_to_add
from spotify_assets.tables import (
    ARROW_TYPES,
    BATCH_ROWS,
    Column,
    TableSpec,
    conform,
    empty_frame,
    to_arrow,
    to_arrow_partitions,
)

CHUNK_ROWS = 65_536
"""Rows per COPY chunk: large enough for vectorized encoding, small enough to stay in the CPU caches."""


class WarehouseWriteError(RuntimeError):
    """A warehouse write failed and was rolled back; the message names the table."""


@dataclass(frozen=True)
class WriteResult:
    """What one write did: the rows it wrote and the columns it added to an existing table."""

    rows: int
    columns_added: tuple[str, ...] = ()


def table_identifier(spec: TableSpec) -> sql.Composed:
    """`"schema"."table"`, quoted."""
    return sql.SQL("{}.{}").format(sql.Identifier(spec.schema), sql.Identifier(spec.name))


def _columns(names: Sequence[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)


def advisory_lock_key(name: str) -> int:
    """A stable signed 64-bit key for `pg_advisory_xact_lock` (e.g. from a table's qualified name)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock(conn: psycopg.Connection, name: str) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_lock_key(name),))


def ensure_schema(conn: psycopg.Connection, schema: str) -> None:
    """Create a schema if missing, safely against concurrent creators."""
    if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone():
        return
    # Two concurrent CREATE SCHEMA IF NOT EXISTS can both miss and then collide on the catalog's unique
    # index; serializing the creators (only while the schema is new) lets the second one see the first.
    _lock(conn, f"schema {schema}")
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def _comment_column(conn: psycopg.Connection, spec: TableSpec, column: Column) -> None:
    conn.execute(
        sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(
            table_identifier(spec), sql.Identifier(column.name), sql.Literal(column.description)
        )
    )


def _add_columns(conn: psycopg.Connection, spec: TableSpec) -> list[str]:
    """Add the spec's nullable columns that the existing table lacks (with their comments); their names.

    Any other difference raises `SpecMismatchError` before anything is changed.
    """
    table = table_identifier(spec)
    added = columns_to_add(conn, spec, table)
    for column in added:
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                table, sql.Identifier(column.name), sql.SQL(column.pg_type)
            )
        )
        _comment_column(conn, spec, column)
    return [column.name for column in added]


def ensure_table(conn: psycopg.Connection, spec: TableSpec) -> list[str]:
    """Create the schema and table if missing: typed columns, NOT NULLs, primary key, comments.

    An existing table gets the spec's nullable columns it lacks (their names are returned); any other
    difference from the spec raises `SpecMismatchError` naming the command that rebuilds the table. Call it
    in the transaction that writes, under the table's advisory lock, so that the change commits with the rows.
    """
    table = table_identifier(spec)
    unknown = sorted({column.pg_type for column in spec.columns} - set(ARROW_TYPES))
    if unknown:  # types are written into the DDL as SQL, so only the contract's vocabulary is allowed
        raise ValueError(f"{spec.qualified_name}: unsupported column types {unknown}")
    column_defs = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(column.name),
            sql.SQL(column.pg_type),
            sql.SQL("" if column.nullable else " NOT NULL"),
        )
        for column in spec.columns
    ]
    column_defs.append(sql.SQL("PRIMARY KEY ({})").format(_columns(spec.primary_key)))
    ensure_schema(conn, spec.schema)
    if table_exists(conn, spec):
        return _add_columns(conn, spec)
    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(table, sql.SQL(", ").join(column_defs)))
    conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(table, sql.Literal(spec.description)))
    for column in spec.columns:
        _comment_column(conn, spec, column)
    if spec.write_mode == "replace_partition" and spec.partition_column:
        index = sql.Identifier(f"{spec.name}_{spec.partition_column}_idx")
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                index, table, sql.Identifier(spec.partition_column)
            )
        )
    return []


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
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(table, _columns(columns))
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


def collapse_for_upsert(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """One row per primary key, merged as the upsert merges: min/max columns, the rest from the newest row."""
    frame = conform(frame, spec)
    keys = list(spec.primary_key)
    if not frame.duplicated(keys).any():
        return frame
    if spec.recency_column:
        frame = frame.sort_values(spec.recency_column, kind="stable", na_position="first")
    groups = frame.groupby(keys, dropna=False, sort=False)
    frame = frame.assign(
        **{name: groups[name].transform("min") for name in spec.least_columns},
        **{name: groups[name].transform("max") for name in spec.greatest_columns},
    )
    return conform(frame.drop_duplicates(keys, keep="last"), spec)


def _partition_tables(spec: TableSpec, frames: Mapping[str, pd.DataFrame]) -> Iterator[pa.Table]:
    """The frames as Arrow tables, converted as they are consumed; a row outside its partition raises."""
    assert spec.partition_column is not None
    for key, part in to_arrow_partitions(frames, spec):
        day = date.fromisoformat(key)
        column = part.column(spec.partition_column)
        # An empty partition (a day without plays) is valid: pc.all of no values is null, not true.
        if column.null_count or (
            len(column) and not pc.all(pc.equal(column, pa.scalar(day, pa.date32()))).as_py()
        ):
            raise ValueError(f"rows of partition {key} hold other {spec.partition_column} values")
        yield part


def _concat(frames: Mapping[str, pd.DataFrame], spec: TableSpec) -> pd.DataFrame:
    parts = [frame for frame in frames.values() if len(frame)]
    return conform(pd.concat(parts, ignore_index=True), spec) if parts else empty_frame(spec)


def _replace_partitions(
    conn: psycopg.Connection,
    spec: TableSpec,
    days: Sequence[date],
    batches: Iterable[Mapping[str, pd.DataFrame]],
) -> int:
    if spec.partition_column is None:
        raise ValueError(f"{spec.qualified_name} has no partition_column: its partitions cannot be replaced")
    table = table_identifier(spec)
    conn.execute(
        sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(table, sql.Identifier(spec.partition_column)),
        (list(days),),
    )
    # Converted, checked and sent batch by batch; a bad row raises inside the transaction, which rolls back.
    tables = (part for batch in batches for part in _partition_tables(spec, batch))
    with conn.cursor() as cursor:
        return copy_arrow(cursor, table, tables, spec)


def upsert_statement(spec: TableSpec, source: sql.Composable) -> sql.Composed:
    """INSERT ... SELECT ... ON CONFLICT (pk) DO UPDATE with the spec's least/greatest/recency rules."""
    table = table_identifier(spec)
    columns = _columns(spec.column_names)
    insert = sql.SQL("INSERT INTO {} AS t ({}) SELECT {} FROM {} ON CONFLICT ({}) ").format(
        table, columns, columns, source, _columns(spec.primary_key)
    )
    assignments = []
    for name in spec.column_names:
        if name in spec.primary_key:
            continue
        column = sql.Identifier(name)
        if name in spec.least_columns:
            value = sql.SQL("LEAST(t.{0}, EXCLUDED.{0})").format(column)
        elif name in spec.greatest_columns:
            value = sql.SQL("GREATEST(t.{0}, EXCLUDED.{0})").format(column)
        elif spec.recency_column:
            value = sql.SQL("CASE WHEN EXCLUDED.{1} >= t.{1} THEN EXCLUDED.{0} ELSE t.{0} END").format(
                column, sql.Identifier(spec.recency_column)
            )
        else:
            value = sql.SQL("EXCLUDED.{}").format(column)
        assignments.append(sql.SQL("{} = {}").format(column, value))
    if not assignments:
        return insert + sql.SQL("DO NOTHING")
    return insert + sql.SQL("DO UPDATE SET ") + sql.SQL(", ").join(assignments)


def _upsert(conn: psycopg.Connection, spec: TableSpec, batches: Iterable[Mapping[str, pd.DataFrame]]) -> int:
    stage = sql.Identifier(f"stage_{spec.schema}_{spec.name}")
    conn.execute(
        sql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP").format(stage, table_identifier(spec))
    )
    rows = 0
    # Batches merge in order, as the upsert rules merge rows: the result is the one of a single batch.
    for batch in batches:
        frame = collapse_for_upsert(_concat(batch, spec), spec)
        conn.execute(sql.SQL("TRUNCATE {}").format(stage))
        with conn.cursor() as cursor:
            rows += copy_frame(cursor, stage, frame, spec)
        conn.execute(upsert_statement(spec, stage))
    return rows


def write_partitions(conn: psycopg.Connection, spec: TableSpec, frames: Mapping[str, pd.DataFrame]) -> int:
    """Write partition frames to the spec's table in one transaction; return the rows written.

    `replace_partition` tables lose their rows of the frames' partitions and get the new ones; `upsert`
    tables merge the frames by primary key. On error, the transaction is rolled back (the previous rows
    stay) and a `WarehouseWriteError` naming the table is raised. A `DayBatches` is written a batch at a time.
    """
    return write_partition_batches(conn, spec, list(frames), batches_of(frames))


def write_partition_batches(
    conn: psycopg.Connection,
    spec: TableSpec,
    partition_keys: Sequence[str],
    batches: Iterable[Mapping[str, pd.DataFrame]],
) -> int:
    """`write_partitions` for the partitions `partition_keys`, whose frames arrive as `batches` of them.

    Still one transaction: the previous rows of every partition stay until all batches are written.
    """
    return write_table_batches(conn, spec, partition_keys, batches).rows


def write_table_batches(
    conn: psycopg.Connection,
    spec: TableSpec,
    partition_keys: Sequence[str],
    batches: Iterable[Mapping[str, pd.DataFrame]],
) -> WriteResult:
    """`write_partition_batches` that also says which nullable columns it added to an older table."""
    try:
        with conn.transaction():
            _lock(conn, spec.qualified_name)
            added = tuple(ensure_table(conn, spec))
            if spec.write_mode == "replace_partition":
                days = [date.fromisoformat(key) for key in partition_keys]
                return WriteResult(_replace_partitions(conn, spec, days, batches), added)
            return WriteResult(_upsert(conn, spec, batches), added)
    except Exception as error:  # re-raised with the table's name; the transaction is already rolled back
        raise WarehouseWriteError(f"writing {spec.qualified_name} failed, rolled back: {error}") from error


def _where_partitions(spec: TableSpec, partitions: Sequence[str] | None) -> tuple[sql.Composable, tuple]:
    if partitions is None:
        return sql.SQL(""), ()
    if not spec.partition_column:
        raise ValueError(f"{spec.qualified_name} has no partition column")
    dates = [date.fromisoformat(key) for key in partitions]
    return sql.SQL(" WHERE {} = ANY(%s)").format(sql.Identifier(spec.partition_column)), (dates,)


def read_table(
    conn: psycopg.Connection,
    spec: TableSpec,
    partitions: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The table's rows (optionally only some partitions), conformed to the spec, sorted by primary key.

    With `columns`, only those columns are read and returned (typed as the spec says): rows come back as
    Python objects, so a check over a million rows reads the few columns it compares, not all of them.
    """
    names = spec.column_names if columns is None else tuple(columns)
    if unknown := sorted(set(names) - set(spec.column_names)):
        raise ValueError(f"{spec.qualified_name} has no columns {unknown}")
    where, params = _where_partitions(spec, partitions)
    query = sql.SQL("SELECT {} FROM {}{} ORDER BY {}").format(
        _columns(names), table_identifier(spec), where, _columns(spec.primary_key)
    )
    if columns is not None:
        # The chosen columns as a table of their own, so that conform adds none of the others.
        spec = TableSpec(
            spec.schema, spec.name, spec.description, tuple(spec.column(n) for n in names), (), "upsert"
        )
    # A server-side cursor: rows arrive and become typed columns a batch at a time, so a million rows are
    # never all Python objects at once.
    parts = []
    with conn.cursor(name="read_table", binary=True) as cursor:
        cursor.execute(query, params)
        while rows := cursor.fetchmany(BATCH_ROWS):
            parts.append(conform(pd.DataFrame(rows, columns=list(names)), spec))
    if len(parts) == 1:
        return parts[0]
    return conform(pd.concat(parts, ignore_index=True), spec) if parts else empty_frame(spec)


def count_rows(conn: psycopg.Connection, spec: TableSpec, partitions: Sequence[str] | None = None) -> int:
    """count(*) of the table, or of some of its partitions."""
    where, params = _where_partitions(spec, partitions)
    query = sql.SQL("SELECT count(*) FROM {}{}").format(table_identifier(spec), where)
    row = conn.execute(query, params).fetchone()
    return int(row[0]) if row else 0


def table_exists(conn: psycopg.Connection, spec: TableSpec) -> bool:
    """Whether the spec's table exists in the database."""
    name = table_identifier(spec).as_string(conn)
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return bool(row and row[0])


def existing_keys(conn: psycopg.Connection, spec: TableSpec, column: str, values: Sequence[str]) -> set[str]:
    """Which of `values` occur in `column` of the spec's table (none when the table does not exist yet)."""
    if not values or not table_exists(conn, spec):
        return set()
    query = sql.SQL("SELECT DISTINCT {0} FROM {1} WHERE {0} = ANY(%s)").format(
        sql.Identifier(column), table_identifier(spec)
    )
    return {row[0] for row in conn.execute(query, (list(values),)).fetchall()}


def drop_table(conn: psycopg.Connection, spec: TableSpec) -> int:
    """Drop the spec's table, and the views that read it, under its writers' lock; return the rows it held."""
    with conn.transaction():
        _lock(conn, spec.qualified_name)
        if not table_exists(conn, spec):
            return 0
        rows = count_rows(conn, spec)
        conn.execute(sql.SQL("DROP TABLE {} CASCADE").format(table_identifier(spec)))
    return rows
