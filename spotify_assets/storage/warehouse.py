"""Warehouse tables: create them from their specs (or add a newer spec's nullable columns), read, count,
compare, drop.

Identifiers always go through `psycopg.sql.Identifier`. Writes are `warehouse_write`'s (one transaction per
call, under the table's advisory lock, loading rows by binary COPY).

A project upgrade may add columns to a table's spec. A table created by the previous spec keeps its history:
its missing nullable columns are added in place (old rows hold NULL there). Any other difference (a changed
type or nullability, a missing NOT NULL column, an extra column, another primary key) cannot be applied to
the rows already stored, so it is refused before anything is written, with the command that rebuilds the
table from the lake (`columns_to_add`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd
import psycopg
from psycopg import sql

from spotify_assets.contracts.table_frames import ARROW_TYPES, conform, empty_frame
from spotify_assets.contracts.tables import BATCH_ROWS, Column, TableSpec
from spotify_assets.storage.postgres import advisory_lock_key

PG_TYPE_NAMES = {"timestamptz": "timestamp with time zone"}
"""Spec types whose name in the catalog (`format_type`) is another spelling."""


class SpecMismatchError(ValueError):
    """An existing table differs from its spec in a way that cannot be applied in place."""


def rebuild_command(spec: TableSpec) -> str:
    """The command that drops the spec's table and rebuilds it from the lake objects."""
    return f"spotify-assets rebuild {spec.schema}/{spec.name}"


def _catalog_type(column: Column) -> str:
    return PG_TYPE_NAMES.get(column.pg_type, column.pg_type)


def _existing_columns(conn: psycopg.Connection, table: str) -> dict[str, tuple[str, bool]]:
    """Column name -> (type as the catalog spells it, NOT NULL) of an existing table."""
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (table,),
    ).fetchall()
    return {name: (pg_type, not_null) for name, pg_type, not_null in rows}


def _existing_primary_key(conn: psycopg.Connection, table: str) -> tuple[str, ...]:
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i"
        " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position)"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
        " WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY k.position",
        (table,),
    ).fetchall()
    return tuple(name for (name,) in rows)


def _differences(
    spec: TableSpec, columns: dict[str, tuple[str, bool]], primary_key: tuple[str, ...]
) -> list[str]:
    wrong = []
    for column in spec.columns:
        # PostgreSQL makes primary key columns NOT NULL whatever the spec says.
        spec_not_null = not column.nullable or column.name in spec.primary_key
        wanted = f"{column.pg_type}{' NOT NULL' if spec_not_null else ''}"
        if column.name not in columns:
            if spec_not_null:
                wrong.append(f"{column.name} is missing, the spec says {wanted}")
            continue
        pg_type, not_null = columns[column.name]
        if pg_type != _catalog_type(column):
            wrong.append(f"{column.name} is {pg_type}, the spec says {column.pg_type}")
        elif not_null != spec_not_null:
            wrong.append(
                f"{column.name} is {pg_type}{' NOT NULL' if not_null else ''}, the spec says {wanted}"
            )
    wrong += [f"{name} is not in the spec" for name in columns if name not in spec.column_names]
    if primary_key != spec.primary_key:
        wrong.append(
            f"the primary key is ({', '.join(primary_key)}), the spec says ({', '.join(spec.primary_key)})"
        )
    return wrong


def columns_to_add(conn: psycopg.Connection, spec: TableSpec, table: sql.Composable) -> list[Column]:
    """The spec's nullable columns that the existing `table` lacks, to be added in place.

    Raises `SpecMismatchError` (naming the table, each difference and the rebuild command) when the table
    differs from the spec in any other way: binary COPY needs the exact types, and stored rows cannot be
    given a NOT NULL value or another key without the lake.
    """
    name = table.as_string(conn)
    columns = _existing_columns(conn, name)
    wrong = _differences(spec, columns, _existing_primary_key(conn, name))
    if wrong:
        raise SpecMismatchError(
            f"{spec.qualified_name} differs from its spec ({'; '.join(wrong)}) in a way that cannot be "
            f"applied to its stored rows: nothing was written. Rebuild it from the lake with "
            f"`{rebuild_command(spec)}` (it drops the table and re-materializes it from the lake objects)"
        )
    return [column for column in spec.columns if column.name not in columns]


def table_identifier(spec: TableSpec) -> sql.Composed:
    """`"schema"."table"`, quoted."""
    return sql.SQL("{}.{}").format(sql.Identifier(spec.schema), sql.Identifier(spec.name))


def column_list(names: Sequence[str]) -> sql.Composed:
    """`"a", "b"`: column names, quoted."""
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)


def advisory_xact_lock(conn: psycopg.Connection, name: str) -> None:
    """Take the transaction-scoped advisory lock of `name` (released at commit or rollback)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_lock_key(name),))


def ensure_schema(conn: psycopg.Connection, schema: str) -> None:
    """Create a schema if missing, safely against concurrent creators."""
    if _schema_exists(conn, schema):
        return
    # Two concurrent CREATE SCHEMA IF NOT EXISTS can both miss and then collide on the catalog's unique
    # index; serializing the creators (only while the schema is new) lets the second one see the first.
    advisory_xact_lock(conn, f"schema {schema}")
    # Asked again under the lock by a scan of the catalog, which sees a creator that committed while this
    # transaction waited: IF NOT EXISTS asks the server process's catalog cache, which a kept connection's
    # process filled in earlier transactions and hears of that creator only at its next transaction.
    if not _schema_exists(conn, schema):
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def _schema_exists(conn: psycopg.Connection, schema: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is not None


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
    column_defs.append(sql.SQL("PRIMARY KEY ({})").format(column_list(spec.primary_key)))
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
        column_list(names), table_identifier(spec), where, column_list(spec.primary_key)
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
    """Whether the spec's table exists in the database (committed by anyone before this statement)."""
    # A scan of the catalog, not to_regclass: that asks the server process's catalog cache, which misses a
    # table another transaction created while this one waited for the table's lock (see ensure_schema).
    row = conn.execute(
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s",
        (spec.schema, spec.name),
    ).fetchone()
    return row is not None


def existing_keys(conn: psycopg.Connection, spec: TableSpec, column: str, values: Sequence[str]) -> set[str]:
    """Which of `values` occur in `column` of the spec's table (none when the table does not exist yet)."""
    if not values or not table_exists(conn, spec):
        return set()
    query = sql.SQL("SELECT DISTINCT {0} FROM {1} WHERE {0} = ANY(%s)").format(
        sql.Identifier(column), table_identifier(spec)
    )
    return {row[0] for row in conn.execute(query, (list(values),)).fetchall()}


@dataclass(frozen=True)
class KeyComparison:
    """Two tables' rows of some partitions compared on some columns: each side's rows, and the rows of each
    side whose values the other side's rows lack."""

    left_rows: int
    right_rows: int
    only_left: int
    only_right: int


def compare_keys(
    conn: psycopg.Connection,
    left: TableSpec,
    right: TableSpec,
    columns: Sequence[str],
    partitions: Sequence[str],
) -> KeyComparison:
    """The rows of `partitions` of two tables compared on `columns`, by the server (one full join): nothing
    but four counts comes back, however many rows the partitions hold. A null never matches."""
    sides = []
    params: list[object] = []
    for spec in (left, right):
        where, values = _where_partitions(spec, partitions)
        query = sql.SQL("SELECT {}, true AS present FROM {}{}").format(
            column_list(columns), table_identifier(spec), where
        )
        sides.append(query)
        params += values
    query = sql.SQL(
        "SELECT count(l.present), count(r.present), count(*) FILTER (WHERE r.present IS NULL), "
        "count(*) FILTER (WHERE l.present IS NULL) FROM ({}) l FULL JOIN ({}) r USING ({})"
    ).format(*sides, column_list(columns))
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return KeyComparison(*(int(value) for value in row))


def drop_table(conn: psycopg.Connection, spec: TableSpec) -> int:
    """Drop the spec's table, and the views that read it, under its writers' lock; return the rows it held."""
    with conn.transaction():
        advisory_xact_lock(conn, spec.qualified_name)
        if not table_exists(conn, spec):
            return 0
        rows = count_rows(conn, spec)
        conn.execute(sql.SQL("DROP TABLE {} CASCADE").format(table_identifier(spec)))
    return rows
