"""Warehouse writes: one transaction per call that replaces partitions or upserts rows, under a lock.

The transaction takes the table's advisory lock (so two runs of one partition cannot double its rows),
creates or upgrades the table (`warehouse.ensure_table`), then either deletes the partitions' rows and COPYs
the new ones (`replace_partition` tables) or COPYs into a temporary table and merges it by primary key
(`upsert` tables). Any failure rolls everything back and raises `WarehouseWriteError` naming the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import dagster as dg
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from spotify_assets.contracts.table_frames import conform, empty_frame, to_arrow_partitions
from spotify_assets.contracts.tables import TableSpec
from spotify_assets.storage.pg_copy import copy_arrow, copy_frame
from spotify_assets.storage.warehouse import advisory_xact_lock, column_list, ensure_table, table_identifier


class WarehouseWriteError(RuntimeError):
    """A warehouse write failed and was rolled back; the message names the table."""


@dataclass(frozen=True)
class WriteResult:
    """What one write did: the rows it wrote and the columns it added to an existing table."""

    rows: int
    columns_added: tuple[str, ...] = ()


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
    columns = column_list(spec.column_names)
    insert = sql.SQL("INSERT INTO {} AS t ({}) SELECT {} FROM {} ON CONFLICT ({}) ").format(
        table, columns, columns, source, column_list(spec.primary_key)
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


def write_table(
    conn: psycopg.Connection,
    spec: TableSpec,
    frames: Mapping[str, pd.DataFrame],
    batches: Iterable[Mapping[str, pd.DataFrame]] | None = None,
) -> WriteResult:
    """Write `{partition key: frame}` to the spec's table in one transaction; what it wrote and added.

    `replace_partition` tables lose their rows of the frames' partitions and get the new ones; `upsert`
    tables merge the frames by primary key (key `""` for an unpartitioned frame). The frames arrive as
    `batches` (default: `frames` as one batch; a `DayBatches`'s `batches()` for a long range), for a caller
    that stores each batch elsewhere too; the previous rows of every partition stay until all batches are
    written. On error the transaction is rolled back (the previous rows stay) and a `WarehouseWriteError`
    naming the table is raised, except a `dagster.Failure` raised while a batch was built (a transform's
    error, which names itself), which is raised as it is.
    """
    try:
        with conn.transaction():
            advisory_xact_lock(conn, spec.qualified_name)
            added = tuple(ensure_table(conn, spec))
            batches = [frames] if batches is None else batches
            if spec.write_mode == "replace_partition":
                days = [date.fromisoformat(key) for key in frames]
                return WriteResult(_replace_partitions(conn, spec, days, batches), added)
            return WriteResult(_upsert(conn, spec, batches), added)
    except dg.Failure:  # a batch's build failed (not the write): the step's own error; rolled back too
        raise
    except Exception as error:  # re-raised with the table's name; the transaction is already rolled back
        raise WarehouseWriteError(f"writing {spec.qualified_name} failed, rolled back: {error}") from error
