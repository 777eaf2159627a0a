"""How an existing warehouse table differs from its spec: nullable columns to add in place, or a rebuild.

A project upgrade may add columns to a table's spec. A table created by the previous spec keeps its history:
its missing nullable columns are added in place (old rows hold NULL there). Any other difference (a changed
type or nullability, a missing NOT NULL column, an extra column, another primary key) cannot be applied to
the rows already stored, so it is refused before anything is written, with the command that rebuilds the
table from the lake.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from spotify_assets.contracts.tables import Column, TableSpec

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
