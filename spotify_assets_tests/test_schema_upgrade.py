"""Upgrading the project: a warehouse created by the previous spec keeps its rows, or names its rebuild."""

import re
from dataclasses import replace
from datetime import date

import dagster as dg
import pandas as pd
import pytest

from spotify_assets.contracts.table_frames import conform
from spotify_assets.contracts.tables import DIM_TRACK, PLAYS, Column, TableSpec
from spotify_assets.storage.postgres_io import PostgresIOManager
from spotify_assets.storage.warehouse import ensure_table, read_table
from spotify_assets.storage.warehouse_write import WarehouseWriteError, write_table
from spotify_assets_tests.helpers import make_settings, materialize
from spotify_assets_tests.warehouse_frames import DAY, NEXT_DAY, assert_same_rows, tricky_frame

ADDED = {"silver.plays": ("isrc", "conn_country"), "gold.dim_track": ("isrc",)}
"""Nullable columns that the "previous spec" of each table did not have (one in the middle, one last)."""


def previous_spec(spec: TableSpec, **changes) -> TableSpec:
    """The spec as an older release declared it: without the ADDED columns, plus `changes`."""
    columns = tuple(c for c in spec.columns if c.name not in ADDED[spec.qualified_name])
    return replace(spec, **{"columns": columns, **changes})


def table_columns(conn, spec: TableSpec) -> list[tuple[str, str, str, str | None]]:
    """(name, type, nullable, comment) of the table's columns, in table order."""
    return conn.execute(
        "SELECT column_name, data_type, is_nullable, col_description(%s::regclass, ordinal_position)"
        " FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
        " ORDER BY ordinal_position",
        (spec.qualified_name, spec.schema, spec.name),
    ).fetchall()


def frames_of(spec: TableSpec, day: str) -> dict[str, pd.DataFrame]:
    return {day: tricky_frame(spec, day=day)}


@pytest.mark.parametrize("spec", [PLAYS, DIM_TRACK], ids=lambda spec: spec.qualified_name)
def test_nullable_columns_of_a_newer_spec_are_added_in_place(clean_warehouse, spec):
    old_spec = previous_spec(spec)
    old_rows = frames_of(old_spec, DAY)
    with clean_warehouse.connect() as conn:
        write_table(conn, old_spec, old_rows)
    new_rows = frames_of(spec, NEXT_DAY)

    metadata = PostgresIOManager(postgres=clean_warehouse).write(spec, new_rows)

    added = ADDED[spec.qualified_name]
    assert metadata["columns_added"] == ", ".join(added)
    assert metadata["rows_written"] == len(new_rows[NEXT_DAY])
    with clean_warehouse.connect() as conn:
        columns = table_columns(conn, spec)
        back = read_table(conn, spec)
    assert sorted(name for name, *_ in columns) == sorted(spec.column_names)
    comments = {name: (nullable, comment) for name, _, nullable, comment in columns}
    assert {name: comments[name] for name in added} == {
        name: ("YES", spec.column(name).description) for name in added
    }
    # The old rows keep their values, with NULL in the added columns; the new rows are all there.
    expected = pd.concat([conform(old_rows[DAY], spec), new_rows[NEXT_DAY]], ignore_index=True)
    assert (
        back[list(added)].notna().sum().to_dict() == new_rows[NEXT_DAY][list(added)].notna().sum().to_dict()
    )
    assert_same_rows(back, expected, spec)
    # Once added, the columns are not added again.
    assert "columns_added" not in PostgresIOManager(postgres=clean_warehouse).write(spec, new_rows)


def test_added_columns_roll_back_with_a_failed_write(clean_warehouse):
    old_spec = previous_spec(PLAYS)
    with clean_warehouse.connect() as conn:
        write_table(conn, old_spec, frames_of(old_spec, DAY))
        before = table_columns(conn, PLAYS)
        with pytest.raises(WarehouseWriteError, match="rows of partition"):
            write_table(conn, PLAYS, {NEXT_DAY: tricky_frame(PLAYS, day=DAY)})  # rows of another day
        assert table_columns(conn, PLAYS) == before


DIFFERENCES = {
    "changed type": (
        {
            "columns": tuple(
                replace(c, pg_type="integer") if c.name == "duration_ms" else c for c in PLAYS.columns
            )
        },
        "duration_ms is integer, the spec says bigint",
    ),
    "missing NOT NULL column": (
        {"columns": tuple(c for c in PLAYS.columns if c.name != "source")},
        "source is missing, the spec says text NOT NULL",
    ),
    "extra column": (
        {"columns": (*PLAYS.columns, Column("popularity", "integer", "Dropped since"))},
        "popularity is not in the spec",
    ),
    "changed primary key": (
        {"primary_key": ("listener_id", "played_at")},
        r"the primary key is \(listener_id, played_at\), the spec says \(listener_id, played_at, track_key\)",
    ),
    "changed nullability": (
        {
            "columns": tuple(
                replace(c, nullable=False) if c.name == "track_name" else c for c in PLAYS.columns
            )
        },
        "track_name is text NOT NULL, the spec says text",
    ),
}


@pytest.mark.parametrize(("changes", "difference"), DIFFERENCES.values(), ids=list(DIFFERENCES))
def test_any_other_difference_fails_before_writing_and_names_the_rebuild(
    clean_warehouse, changes, difference
):
    old_spec = replace(PLAYS, **changes)
    old_rows = frames_of(old_spec, DAY)
    with clean_warehouse.connect() as conn:
        write_table(conn, old_spec, old_rows)
        columns = table_columns(conn, old_spec)
        with pytest.raises(WarehouseWriteError) as failure:
            # the same partition too: a write that got as far as its DELETE would lose the old rows
            write_table(conn, PLAYS, {DAY: tricky_frame(PLAYS, day=DAY), **frames_of(PLAYS, NEXT_DAY)})
        assert table_columns(conn, old_spec) == columns
        assert_same_rows(read_table(conn, old_spec), old_rows[DAY], old_spec)
    message = str(failure.value)
    assert "silver.plays differs from its spec" in message
    assert re.search(difference, message), message
    assert "`spotify-assets rebuild silver/plays`" in message


def test_ensure_table_on_a_previous_spec_adds_columns_once(clean_warehouse):
    old_spec = previous_spec(DIM_TRACK)
    with clean_warehouse.connect() as conn:
        assert ensure_table(conn, old_spec) == []
        assert ensure_table(conn, DIM_TRACK) == ["isrc"]
        assert ensure_table(conn, DIM_TRACK) == []


@pytest.mark.slow
def test_a_run_on_a_warehouse_of_the_previous_spec_records_the_added_columns(tmp_path, clean_warehouse):
    with clean_warehouse.connect() as conn:
        ensure_table(conn, previous_spec(PLAYS))
    result = materialize(make_settings(tmp_path, clean_warehouse), date.fromisoformat(DAY))
    (event,) = [
        event.materialization
        for event in result.get_asset_materialization_events()
        if event.materialization.asset_key == dg.AssetKey(["silver", "plays"])
    ]
    assert event.metadata["columns_added"].value == "isrc, conn_country"
    with clean_warehouse.connect() as conn:
        assert read_table(conn, PLAYS)["isrc"].notna().any()  # the new column is filled by the run


def test_a_key_column_declared_nullable_is_not_a_difference(clean_warehouse):
    columns = tuple(replace(c, nullable=True) if c.name == "track_key" else c for c in DIM_TRACK.columns)
    spec = replace(DIM_TRACK, columns=columns)  # PostgreSQL makes it NOT NULL anyway, as a key column
    with clean_warehouse.connect() as conn:
        ensure_table(conn, spec)
        assert ensure_table(conn, spec) == []
