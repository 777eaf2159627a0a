"""`spotify-assets rebuild`: a table that a newer spec changed is dropped and rebuilt from the lake alone."""

import os
import subprocess
import sys
from datetime import date

import pytest
from psycopg import sql

from spotify_assets.contracts.tables import DIM_TRACK, FACT_RECENTLY_PLAYED, PLAYS
from spotify_assets.operations.rebuild import day_ranges, lake_partitions, run_rebuild, table_of
from spotify_assets.storage.lake import LakeResource
from spotify_assets.storage.warehouse import read_table
from spotify_assets.storage.warehouse_write import write_table
from spotify_assets_tests.helpers import event_log_paths, make_settings, materialize
from spotify_assets_tests.warehouse_frames import DAY, tricky_frame

FIRST, SECOND, AFTER_A_GAP = date(2025, 3, 14), date(2025, 3, 15), date(2025, 3, 17)


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ([], []),
        (["2025-03-14"], [("2025-03-14", "2025-03-14")]),
        (
            ["2025-02-28", "2025-03-01", "2025-03-03"],
            [("2025-02-28", "2025-03-01"), ("2025-03-03", "2025-03-03")],
        ),
        (["2024-12-31", "2025-01-01"], [("2024-12-31", "2025-01-01")]),
    ],
)
def test_day_ranges_are_runs_of_consecutive_days(days, expected):
    assert day_ranges(days) == expected


@pytest.mark.parametrize("name", ["gold/dim_track", "gold.dim_track", "/gold/dim_track/"])
def test_a_table_is_named_by_its_asset_key_or_qualified_name(name):
    assert table_of(name) is DIM_TRACK


def test_an_unknown_table_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="'raw/recently_played' is not a warehouse table.*gold/dim_track"):
        table_of("raw/recently_played")


def test_lake_partitions_are_the_days_holding_the_table_object(tmp_path):
    lake = LakeResource(local_dir=str(tmp_path))
    for day in ("2025-03-15", "2025-03-14"):
        lake.write_bytes(lake.table_path(["gold", "dim_track"], day), b"x")
    lake.write_bytes("gold/dim_track/extraction_date=2025-03-16/notes.txt", b"x")  # not the table's object
    lake.write_bytes(lake.table_path(["gold", "dim_album"], "2025-03-17"), b"x")
    assert lake_partitions(lake, DIM_TRACK) == ["2025-03-14", "2025-03-15"]


def warehouse_rows(resource) -> dict[str, object]:
    with resource.connect() as conn:
        return {
            spec.qualified_name: read_table(conn, spec) for spec in (DIM_TRACK, FACT_RECENTLY_PLAYED, PLAYS)
        }


@pytest.mark.slow
@pytest.mark.parametrize("spec", [DIM_TRACK, PLAYS], ids=lambda spec: spec.qualified_name)
def test_rebuild_from_the_lake_gives_the_same_rows(tmp_path, clean_warehouse, spec):
    settings = make_settings(tmp_path, clean_warehouse)
    materialize(settings, FIRST, SECOND)
    materialize(settings, AFTER_A_GAP)
    before = warehouse_rows(clean_warehouse)
    assert len(before[spec.qualified_name]) > 0
    table = sql.Identifier(spec.schema, spec.name)
    with clean_warehouse.connect() as conn:  # as an older release created it: a type the spec has changed
        conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN duration_ms TYPE integer").format(table))
        conn.commit()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SPOTIFY_", "DB_", "S3_"))}
    env.update(
        DAGSTER_HOME=str(tmp_path),
        LAKE_DIR=settings.lake_dir,
        EMBEDDED_PG_DIR=settings.embedded_pg_dir,
        SPOTIFY_SOURCE="sample",
    )
    key = f"{spec.schema}/{spec.name}"

    result = subprocess.run(
        [sys.executable, "-m", "spotify_assets.operations.cli", "rebuild", key, "--yes"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr[-3000:]
    select = f"dagster asset materialize -m spotify_assets.definitions --select {key}"
    assert f"{select} --partition-range 2025-03-14...2025-03-15" in result.stdout
    assert f"{select} --partition-range 2025-03-17...2025-03-17" in result.stdout
    # one progress line per run (its one asset), Dagster's events in the logs it names
    assert [line.split(" [")[0].split()[:4] for line in result.stdout.splitlines() if " OK " in line] == [
        ["1", "of", "1", "OK"]
    ] * 2
    assert "DEBUG" not in result.stdout + result.stderr
    assert all("STEP_SUCCESS" in log.read_text() for log in event_log_paths(result.stdout))
    after = warehouse_rows(clean_warehouse)
    for name, rows in before.items():
        assert after[name].equals(rows), name
    with clean_warehouse.connect() as conn:
        assert conn.execute("SELECT to_regclass('bi.plays') IS NOT NULL").fetchone() == (True,)
        # the rebuilt table takes writes again
        write_table(conn, spec, {DAY: tricky_frame(spec, day=DAY)})


def test_rebuild_keeps_the_table_unless_confirmed(tmp_path, clean_warehouse):
    settings = make_settings(tmp_path, clean_warehouse)
    lake = LakeResource(local_dir=settings.lake_dir)
    lake.write_bytes(lake.table_path(["gold", "dim_track"], "2025-03-14"), b"x")
    rows = tricky_frame(DIM_TRACK)
    with clean_warehouse.connect() as conn:
        write_table(conn, DIM_TRACK, {"": rows})

    assert run_rebuild(settings, "gold/dim_track", ask=lambda question: "n") == 1
    assert run_rebuild(settings, "gold/dim_track", dry_run=True) == 0

    with clean_warehouse.connect() as conn:
        assert len(read_table(conn, DIM_TRACK)) == len(rows)


def test_rebuild_without_lake_partitions_drops_nothing(tmp_path, clean_warehouse, capsys):
    settings = make_settings(tmp_path, clean_warehouse)
    with clean_warehouse.connect() as conn:
        write_table(conn, DIM_TRACK, {"": tricky_frame(DIM_TRACK)})
    assert run_rebuild(settings, "gold/dim_track", yes=True) == 1
    assert "The lake holds no partitions of gold/dim_track" in capsys.readouterr().err
    with clean_warehouse.connect() as conn:
        assert len(read_table(conn, DIM_TRACK)) > 0
