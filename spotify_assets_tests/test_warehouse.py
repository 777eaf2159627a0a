"""The warehouse on a real PostgreSQL: COPY round trips, replace and upsert rules, failures, concurrency."""

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pgserver
import pytest
from psycopg import sql

from spotify_assets.contracts import tables
from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.table_frames import conform
from spotify_assets.contracts.tables import DIM_ARTIST, PLAYS, TABLES, Column, TableSpec
from spotify_assets.storage import warehouse_write
from spotify_assets.storage.postgres import (
    CONNECT_TIMEOUT_S,
    PostgresResource,
    embedded_server,
    stop_embedded_server,
)
from spotify_assets.storage.postgres_io import PostgresIOManager
from spotify_assets.storage.warehouse import (
    count_rows,
    ensure_table,
    existing_keys,
    read_table,
    table_identifier,
)
from spotify_assets.storage.warehouse_write import WarehouseWriteError, collapse_for_upsert, write_table
from spotify_assets_tests.warehouse_frames import (
    DAY,
    NEXT_DAY,
    artists,
    assert_same_rows,
    plays,
    tricky_frame,
)


@pytest.mark.parametrize("spec", list(TABLES.values()), ids=list(TABLES))
def test_every_table_round_trips(clean_warehouse, spec, monkeypatch):
    monkeypatch.setattr(warehouse_write, "CHUNK_ROWS", 4)  # several COPY chunks, and sliced list arrays
    frames = {DAY: tricky_frame(spec, day=DAY), NEXT_DAY: tricky_frame(spec, day=NEXT_DAY)}
    if spec.write_mode == "upsert":
        frames = {DAY: frames[DAY]}
    with clean_warehouse.connect() as conn:
        written = write_table(conn, spec, frames).rows
        back = read_table(conn, spec)
    expected = pd.concat(frames.values(), ignore_index=True)
    assert written == len(expected)
    assert_same_rows(back, expected, spec)


def test_empty_strings_and_nulls_stay_distinct(clean_warehouse):
    frame = tricky_frame(PLAYS)
    with clean_warehouse.connect() as conn:
        write_table(conn, PLAYS, {DAY: frame})
        nulls, empties, empty_arrays = conn.execute(
            "SELECT count(*) FILTER (WHERE track_name IS NULL), count(*) FILTER (WHERE track_name = ''),"
            " count(*) FILTER (WHERE artist_ids = '{}') FROM silver.plays"
        ).fetchone()
    assert nulls == frame["track_name"].isna().sum() > 0
    assert empties == (frame["track_name"] == "").sum() > 0
    assert empty_arrays == frame["artist_ids"].map(lambda v: v == []).sum() > 0


def test_existing_keys_are_the_values_present(clean_warehouse):
    with clean_warehouse.connect() as conn:
        write_table(conn, DIM_ARTIST, {DAY: DAY_A})
        assert existing_keys(conn, DIM_ARTIST, "artist_key", ["ar1", "nope", "ar2"]) == {"ar1", "ar2"}
        assert existing_keys(conn, DIM_ARTIST, "artist_key", []) == set()


def test_timestamps_keep_milliseconds_in_utc(clean_warehouse):
    frame = plays(DAY, 2, "x", start_ms=123)
    with clean_warehouse.connect() as conn:
        write_table(conn, PLAYS, {DAY: frame})
        conn.execute("SET TimeZone = 'America/New_York'")
        text = conn.execute("SELECT played_at AT TIME ZONE 'UTC' FROM silver.plays ORDER BY 1").fetchall()
        back = read_table(conn, PLAYS)
    assert [str(row[0]) for row in text] == ["2025-03-14 00:00:00.123000", "2025-03-14 00:00:01.123000"]
    assert back["played_at"].tolist() == frame["played_at"].tolist()
    assert str(back["played_at"].dtype) == "datetime64[ms, UTC]"


def test_rewriting_a_partition_replaces_its_rows(clean_warehouse):
    with clean_warehouse.connect() as conn:
        write_table(conn, PLAYS, {DAY: plays(DAY, 3, "one")})
        write_table(conn, PLAYS, {NEXT_DAY: plays(NEXT_DAY, 3, "two")})
        write_table(conn, PLAYS, {DAY: plays(DAY, 3, "three")})
        write_table(conn, PLAYS, {DAY: plays(DAY, 3, "three")})
        table = read_table(conn, PLAYS)
    assert sorted(table["track_name"]) == ["three"] * 3 + ["two"] * 3


def test_rewriting_three_times_leaves_one_copy_and_the_neighbour_untouched(clean_warehouse):
    neighbour = plays(NEXT_DAY, 4, "neighbour")
    with clean_warehouse.connect() as conn:
        write_table(conn, PLAYS, {NEXT_DAY: neighbour})
        for _ in range(3):
            write_table(conn, PLAYS, {DAY: plays(DAY, 5, "day")})
        assert count_rows(conn, PLAYS, [DAY]) == 5
        assert count_rows(conn, PLAYS) == 9
        assert_same_rows(read_table(conn, PLAYS, [NEXT_DAY]), neighbour, PLAYS)


def test_a_range_is_replaced_in_one_call(clean_warehouse):
    with clean_warehouse.connect() as conn:
        write_table(conn, PLAYS, {DAY: plays(DAY, 2, "old"), NEXT_DAY: plays(NEXT_DAY, 2, "old")})
        written = write_table(
            conn, PLAYS, {DAY: plays(DAY, 1, "new"), NEXT_DAY: plays(NEXT_DAY, 3, "new")}
        ).rows
        table = read_table(conn, PLAYS)
    assert written == 4
    assert table["track_name"].tolist() == ["new"] * 4


def test_rows_outside_their_partition_are_refused(clean_warehouse):
    with clean_warehouse.connect() as conn, pytest.raises(WarehouseWriteError, match="silver.plays"):
        write_table(conn, PLAYS, {NEXT_DAY: plays(DAY, 2, "misfiled")})


DAY_A = artists(
    [
        ("ar1", "Old Name", "2025-03-14T08:00:00Z", "2025-03-14T09:00:00Z"),
        ("ar2", "Only A", "2025-03-14T10:00:00Z", "2025-03-14T10:00:00Z"),
    ]
)
DAY_B = artists(
    [
        ("ar1", "New Name", "2025-03-15T07:00:00Z", "2025-03-15T22:00:00.5Z"),
        ("ar3", "Only B", "2025-03-15T01:00:00Z", "2025-03-15T02:00:00Z"),
    ]
)
MERGED = artists(
    [
        ("ar1", "New Name", "2025-03-14T08:00:00Z", "2025-03-15T22:00:00.5Z"),
        ("ar2", "Only A", "2025-03-14T10:00:00Z", "2025-03-14T10:00:00Z"),
        ("ar3", "Only B", "2025-03-15T01:00:00Z", "2025-03-15T02:00:00Z"),
    ]
)


@pytest.mark.parametrize(
    "batches",
    [
        [{DAY: DAY_A}, {NEXT_DAY: DAY_B}],
        [{NEXT_DAY: DAY_B}, {DAY: DAY_A}],
        [{DAY: DAY_A, NEXT_DAY: DAY_B}],
        [{NEXT_DAY: DAY_B, DAY: DAY_A}],
        [{NEXT_DAY: DAY_B}, {DAY: DAY_A}, {NEXT_DAY: DAY_B}, {DAY: DAY_A}],
    ],
    ids=["a-then-b", "b-then-a", "a-and-b", "b-and-a", "re-runs"],
)
def test_upsert_does_not_depend_on_write_order(clean_warehouse, batches):
    with clean_warehouse.connect() as conn:
        for frames in batches:
            write_table(conn, DIM_ARTIST, frames)
        table = read_table(conn, DIM_ARTIST)
    assert_same_rows(table, MERGED, DIM_ARTIST)


def test_upsert_without_recency_takes_the_incoming_row(clean_warehouse):
    spec = tables.BRIDGE_TRACK_ARTIST
    first = pd.DataFrame({"track_key": ["t1", "t1"], "artist_key": ["a1", "a2"], "position": [0, 1]})
    second = pd.DataFrame({"track_key": ["t1"], "artist_key": ["a2"], "position": [5]})
    with clean_warehouse.connect() as conn:
        write_table(conn, spec, {DAY: first})
        write_table(conn, spec, {NEXT_DAY: second})
        assert read_table(conn, spec)["position"].tolist() == [0, 5]


@pytest.mark.parametrize(
    "rows,expected",
    [
        ([("k", "a", "2025-01-02", "2025-01-03")], [("k", "a", "2025-01-02", "2025-01-03")]),
        (
            [("k", "newest", "2025-01-05", "2025-01-09"), ("k", "older", "2025-01-01", "2025-01-04")],
            [("k", "newest", "2025-01-01", "2025-01-09")],
        ),
        (
            [("k", "older", "2025-01-01", "2025-01-04"), ("k", "newest", "2025-01-05", "2025-01-09")],
            [("k", "newest", "2025-01-01", "2025-01-09")],
        ),
        (
            [("k", "tie-1", "2025-01-02", "2025-01-04"), ("k", "tie-2", "2025-01-01", "2025-01-04")],
            [("k", "tie-2", "2025-01-01", "2025-01-04")],
        ),
        (
            [("j", "j", "2025-01-01", "2025-01-01"), ("k", "k", "2025-01-02", "2025-01-02")],
            [("j", "j", "2025-01-01", "2025-01-01"), ("k", "k", "2025-01-02", "2025-01-02")],
        ),
    ],
    ids=["single", "newest-first", "newest-last", "tie-takes-last", "distinct-keys"],
)
def test_collapse_for_upsert(rows, expected):
    collapsed = collapse_for_upsert(artists(rows), DIM_ARTIST)
    assert_same_rows(collapsed, artists(expected), DIM_ARTIST)


def test_collapse_without_recency_keeps_the_last_row():
    spec = tables.BRIDGE_TRACK_ARTIST
    frame = pd.DataFrame({"track_key": ["t", "t"], "artist_key": ["a", "a"], "position": [3, 1]})
    assert collapse_for_upsert(frame, spec)["position"].tolist() == [1]


@pytest.mark.parametrize("spec", [PLAYS, DIM_ARTIST], ids=lambda spec: spec.qualified_name)
def test_a_failed_write_keeps_the_previous_rows(clean_warehouse, spec):
    good = plays(DAY, 3, "good") if spec is PLAYS else DAY_A
    bad = good.copy()
    bad.loc[1, spec.primary_key[0]] = None  # NOT NULL violation mid-COPY
    with clean_warehouse.connect() as conn:
        write_table(conn, spec, {DAY: good})
        with pytest.raises(WarehouseWriteError, match=spec.qualified_name.replace(".", r"\.")) as error:
            write_table(conn, spec, {DAY: bad})
        assert "null value" in str(error.value)
        assert_same_rows(read_table(conn, spec), good, spec)


def test_concurrent_writers_of_one_partition_leave_one_copy(clean_warehouse):
    frame = plays(DAY, 2_000, "concurrent")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with clean_warehouse.connect() as conn:
                barrier.wait()
                write_table(conn, PLAYS, {DAY: frame})
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    for _ in range(3):
        threads = [threading.Thread(target=write) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    with clean_warehouse.connect() as conn:
        assert count_rows(conn, PLAYS) == len(frame)


def test_concurrent_first_writers_create_the_schema_once(clean_warehouse):
    barrier = threading.Barrier(len(tables.GOLD_TABLES))
    errors: list[BaseException] = []

    def write(spec: TableSpec) -> None:
        try:
            with clean_warehouse.connect() as conn:
                barrier.wait()
                write_table(conn, spec, {DAY: tricky_frame(spec, rows=3)})
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(spec,)) for spec in tables.GOLD_TABLES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_identifiers_are_quoted(clean_warehouse):
    spec = TableSpec(
        schema="Odd Schema",
        name='select "table"',
        description="it's a test",
        columns=(
            Column("Select", "text", "a reserved word", nullable=False),
            Column("with space", "text[]", "a space"),
            Column("day", "date", "partition", nullable=False),
        ),
        primary_key=("Select",),
        write_mode="replace_partition",
        partition_column="day",
    )
    frame = conform(
        pd.DataFrame({"Select": ["x", "y"], "with space": [["a b"], []], "day": [date(2025, 3, 14)] * 2}),
        spec,
    )
    try:
        with clean_warehouse.connect() as conn:
            ensure_table(conn, spec)
            write_table(conn, spec, {DAY: frame})
            write_table(conn, spec, {DAY: frame})
            assert_same_rows(read_table(conn, spec, [DAY]), frame, spec)
            comment = conn.execute(
                "SELECT obj_description(to_regclass(%s), 'pg_class')",
                (table_identifier(spec).as_string(conn),),
            ).fetchone()
            assert comment == ("it's a test",)
    finally:
        with clean_warehouse.connect() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(spec.schema)))


def test_tables_get_keys_not_nulls_and_comments(clean_warehouse):
    with clean_warehouse.connect() as conn:
        ensure_table(conn, PLAYS)
        ensure_table(conn, PLAYS)  # idempotent
        columns = conn.execute(
            "SELECT column_name, is_nullable, col_description('silver.plays'::regclass, ordinal_position)"
            " FROM information_schema.columns WHERE table_schema = 'silver' AND table_name = 'plays'"
            " ORDER BY ordinal_position"
        ).fetchall()
        key = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'silver.plays'::regclass"
            " AND contype = 'p'"
        ).fetchone()
    assert [name for name, _, _ in columns] == list(PLAYS.column_names)
    assert {name for name, nullable, _ in columns if nullable == "NO"} == {
        c.name for c in PLAYS.columns if not c.nullable
    }
    assert [description for _, _, description in columns] == [c.description for c in PLAYS.columns]
    assert key == ("PRIMARY KEY (listener_id, played_at, track_key)",)


def test_io_manager_replaces_partitions_and_reports_row_counts(clean_warehouse):
    partitions = dg.DailyPartitionsDefinition(start_date="2025-03-01")
    names = iter(["first", "second", "third"])

    @dg.asset(key=["silver", "plays"], partitions_def=partitions)
    def silver_plays(context: dg.AssetExecutionContext) -> DayBatches:
        name = next(names)
        return DayBatches.of({key: plays(key, 3, name) for key in context.partition_keys})

    @dg.asset(partitions_def=partitions, ins={"silver_plays": dg.AssetIn(key=["silver", "plays"])})
    def play_count(silver_plays: DayBatches) -> None:
        assert {key: len(frame) for key, frame in silver_plays.items()} == {DAY: 3}
        assert silver_plays[DAY]["track_name"].eq("third").all()

    resources = {"io_manager": PostgresIOManager(postgres=clean_warehouse)}
    results = [
        dg.materialize([silver_plays], partition_key=key, resources=resources) for key in (DAY, NEXT_DAY, DAY)
    ]
    downstream = dg.materialize(
        [silver_plays, play_count], selection=[play_count], partition_key=DAY, resources=resources
    )
    assert downstream.success
    with clean_warehouse.connect() as conn:
        table = read_table(conn, PLAYS)
        total = count_rows(conn, PLAYS, [DAY])
    assert sorted(table["track_name"]) == ["second"] * 3 + ["third"] * 3
    metadata = results[-1].asset_materializations_for_node("silver__plays")[0].metadata
    assert metadata["rows_written"].value == total == 3
    assert metadata["dagster/row_count"].value == len(table) == 6
    assert metadata["dagster/table_name"].value == "silver.plays"
    assert metadata["warehouse_table"].value == "silver.plays"
    schema = metadata["dagster/column_schema"].value
    assert [c.name for c in schema.columns] == list(PLAYS.column_names)
    assert schema.columns[0].description == PLAYS.columns[0].description


def test_io_manager_writes_an_unpartitioned_upsert_frame(clean_warehouse):
    @dg.asset(key=["gold", "dim_artist"])
    def dim_artist() -> pd.DataFrame:
        return DAY_A

    resources = {"io_manager": PostgresIOManager(postgres=clean_warehouse)}
    assert dg.materialize([dim_artist], resources=resources).success
    with clean_warehouse.connect() as conn:
        assert_same_rows(read_table(conn, DIM_ARTIST), DAY_A, DIM_ARTIST)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_server_gives_a_clear_error():
    port = closed_port()
    resource = PostgresResource(host="127.0.0.1", port=port, dbname="warehouse", password="s3cret-pw")
    started = time.monotonic()
    with pytest.raises(ConnectionError) as error, resource.connect():
        pass
    assert f"127.0.0.1:{port}/warehouse" in str(error.value)
    assert "s3cret-pw" not in str(error.value)
    assert time.monotonic() - started < CONNECT_TIMEOUT_S, "a refused connection fails at once, not timed out"


def test_conninfo_of_an_external_server_holds_its_settings():
    resource = PostgresResource(
        host="db.example.com", port=6543, dbname="w", user="u", password="p", sslmode="require"
    )
    conninfo = resource.conninfo()
    for part in ("host=db.example.com", "port=6543", "dbname=w", "user=u", "password=p", "sslmode=require"):
        assert part in conninfo
    assert "p" not in resource.describe().replace("db.example.com", "")


@pytest.mark.slow
def test_another_process_shares_the_embedded_server(postgres_resource):
    script = (
        "from spotify_assets.storage.postgres import PostgresResource\n"
        f"resource = PostgresResource(embedded_dir={postgres_resource.embedded_dir!r})\n"
        "with resource.connect() as conn:\n"
        "    print(conn.execute('SELECT pg_postmaster_start_time()').fetchone()[0])\n"
    )
    with postgres_resource.connect() as conn:
        started = str(conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0])
    for _ in range(2):  # the first process's exit must not stop the server
        child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        assert child.stdout.strip() == started
    with postgres_resource.connect() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.slow
def test_processes_starting_on_a_fresh_folder_share_one_server(tmp_path):
    folder = tmp_path / "fresh" / "postgres"
    script = (
        "import sys\n"
        "from spotify_assets.storage.postgres import PostgresResource\n"
        "with PostgresResource(embedded_dir=sys.argv[1]).connect() as conn:\n"
        "    print(conn.execute('SELECT pg_postmaster_start_time()').fetchone()[0])\n"
    )
    try:
        children = [
            subprocess.Popen([sys.executable, "-c", script, str(folder)], stdout=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        outputs = [child.communicate(timeout=120)[0].strip() for child in children]
        assert [child.returncode for child in children] == [0, 0, 0]
        assert len(set(outputs)) == 1
    finally:
        stop_embedded_server(folder)


def test_a_deep_data_folder_gets_a_socket_and_a_stopped_server_restarts(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    resource = PostgresResource(embedded_dir=str(deep), dbname="other")
    try:
        with resource.connect() as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("other",)
        assert len(str(deep / ".s.PGSQL.5432")) > 107
        server, pid_file = embedded_server(deep), deep / "postmaster.pid"
        lines = pid_file.read_text().splitlines()
        pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=deep, user=server.system_user)  # from outside
        with resource.connect() as conn:  # started again
            assert conn.execute("SELECT current_database()").fetchone() == ("other",)
        pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=deep, user=server.system_user)
        pid_file.write_text("\n".join([str(os.getpid()), *lines[1:]]) + "\n")  # as after a reboot: pid reused
        with resource.connect() as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("other",)
    finally:
        stop_embedded_server(deep)
    assert not (deep / "postmaster.pid").exists()


def test_a_table_that_drifted_from_its_spec_is_refused(clean_warehouse):
    with clean_warehouse.connect() as conn:
        ensure_table(conn, PLAYS)
        conn.execute("ALTER TABLE silver.plays ALTER COLUMN duration_ms TYPE integer")
        conn.commit()
        with pytest.raises(WarehouseWriteError, match="duration_ms is integer, the spec says bigint"):
            write_table(conn, PLAYS, {DAY: plays(DAY, 1, "x")})


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="needs prctl(PR_SET_CHILD_SUBREAPER)")
def test_a_zombie_postmaster_is_not_running_and_a_later_step_starts_the_server_again(tmp_path):
    """kill -9 of the postmaster under a parent that does not reap it (a container's PID 1 without init)."""
    run = subprocess.run(
        [sys.executable, "-m", "spotify_assets_tests.zombie_run", str(tmp_path / "postgres")],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr[-3000:]
