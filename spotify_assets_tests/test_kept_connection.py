"""A process keeps one warehouse connection: reused by every block and IO call, replaced when it is gone."""

import threading
from collections.abc import Iterator

import dagster as dg
import pgserver
import psycopg
import pytest

from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.tables import PLAYS
from spotify_assets.storage.kept_connection import close_kept_connections
from spotify_assets.storage.postgres import PostgresResource, embedded_server, stop_embedded_server
from spotify_assets.storage.postgres_io import PostgresIOManager
from spotify_assets_tests.warehouse_frames import DAY, tricky_frame

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01")


def backend(resource: PostgresResource) -> int:
    """The server process serving this process's next block."""
    with resource.connect() as conn:
        return conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every connection this process opens (real ones, counted), starting with none kept."""
    close_kept_connections()
    opened: list[int] = []
    real_connect = psycopg.connect

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        conn = real_connect(*args, **kwargs)
        opened.append(conn.info.backend_pid)
        return conn

    monkeypatch.setattr(psycopg, "connect", counted)
    yield opened


def test_blocks_of_a_process_share_one_connection(postgres_resource, connects):
    pids = {backend(postgres_resource) for _ in range(5)}

    assert len(pids) == 1
    assert connects == list(pids)


def test_a_run_reads_and_writes_the_warehouse_over_one_connection(clean_warehouse, connects):
    @dg.asset(key=PLAYS.asset_key.path, partitions_def=DAILY, io_manager_key="warehouse")
    def plays(context: dg.AssetExecutionContext) -> DayBatches:
        return DayBatches.of({context.partition_key: tricky_frame(PLAYS, 3)})

    @dg.asset(partitions_def=DAILY, ins={"plays": dg.AssetIn(PLAYS.asset_key)}, io_manager_key="memory")
    def counted(plays: DayBatches) -> int:
        return len(plays[DAY])

    result = dg.materialize(
        [plays, counted],
        partition_key=DAY,
        resources={
            "warehouse": PostgresIOManager(postgres=clean_warehouse),
            "memory": dg.InMemoryIOManager(),
        },
    )

    assert result.success
    assert result.output_for_node("counted") == 3
    (written,) = [m for m in result.get_asset_materialization_events() if m.asset_key == PLAYS.asset_key]
    assert written.materialization.metadata["rows_written"].value == 3
    assert connects == [backend(clean_warehouse)], "the write, the read and this block: one connection"


def test_a_connection_the_server_ended_is_replaced(postgres_resource, connects):
    first = backend(postgres_resource)
    with psycopg.connect(postgres_resource.conninfo(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (first,))

    with postgres_resource.connect() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        second = conn.info.backend_pid

    assert second != first
    assert backend(postgres_resource) == second


def test_a_failed_block_is_rolled_back_and_the_next_block_connects_afresh(clean_warehouse, connects):
    with clean_warehouse.connect() as conn:
        conn.execute("CREATE TABLE public.kept_probe (n int)")
    first = backend(clean_warehouse)
    try:
        with pytest.raises(ValueError, match="on purpose"), clean_warehouse.connect() as conn:
            conn.execute("INSERT INTO public.kept_probe VALUES (1)")
            raise ValueError("on purpose")

        with clean_warehouse.connect() as conn:
            assert conn.execute("SELECT count(*) FROM public.kept_probe").fetchone() == (0,)
            assert conn.info.backend_pid != first
    finally:
        with clean_warehouse.connect() as conn:
            conn.execute("DROP TABLE public.kept_probe")


def test_a_committed_block_is_seen_by_other_connections(clean_warehouse, connects):
    with clean_warehouse.connect() as conn:
        conn.execute("CREATE TABLE public.kept_probe (n int)")
        conn.execute("INSERT INTO public.kept_probe VALUES (7)")
    try:
        with psycopg.connect(clean_warehouse.conninfo()) as other:
            assert other.execute("SELECT n FROM public.kept_probe").fetchall() == [(7,)]
    finally:
        with clean_warehouse.connect() as conn:
            conn.execute("DROP TABLE public.kept_probe")


def test_autocommit_switched_on_in_a_block_is_off_in_the_next(postgres_resource, connects):
    with postgres_resource.connect() as conn:
        conn.autocommit = True
        conn.execute("SELECT 1")

    with postgres_resource.connect() as conn:
        assert conn.autocommit is False
        conn.execute("SELECT 1")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    assert len(connects) == 1


def test_a_block_inside_a_block_or_in_another_thread_gets_its_own_connection(postgres_resource, connects):
    others: list[int] = []

    def in_thread() -> None:
        others.append(backend(postgres_resource))

    with postgres_resource.connect() as conn:
        outer = conn.info.backend_pid
        nested = backend(postgres_resource)
        thread = threading.Thread(target=in_thread)
        thread.start()
        thread.join()

    assert outer != nested
    assert others and others[0] != outer
    assert backend(postgres_resource) == outer, "the kept one stays the process's connection"
    with postgres_resource.connect() as conn:
        alive = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", ([nested, others[0]],)
        ).fetchall()
    assert alive == [], "the extra connections are closed when their block ends"


def test_a_server_stopped_under_the_process_is_started_again_for_the_next_block(tmp_path, connects):
    resource = PostgresResource(embedded_dir=str(tmp_path / "postgres"))
    try:
        with resource.connect() as conn:
            kept = conn
            first = conn.info.backend_pid
        server = embedded_server(resource.embedded_dir)
        pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)

        assert backend(resource) != first
        assert kept.closed
    finally:
        stop_embedded_server(resource.embedded_dir)


def test_stopping_the_embedded_server_closes_the_kept_connection_to_it(tmp_path, postgres_resource, connects):
    resource = PostgresResource(embedded_dir=str(tmp_path / "postgres"))
    try:
        with resource.connect() as conn:
            kept = conn
        with postgres_resource.connect() as conn:
            elsewhere = conn
    finally:
        stop_embedded_server(resource.embedded_dir)

    assert kept.closed
    assert not elsewhere.closed
    assert backend(postgres_resource) == elsewhere.info.backend_pid
