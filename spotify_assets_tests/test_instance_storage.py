"""The instance storage a run uses: one connection per process, a range's events written in few statements."""

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import sqlalchemy as db
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from psycopg import sql
from sqlalchemy import event

from spotify_assets.contracts.settings import Settings, get_settings
from spotify_assets.operations.instance_config import write_instance_yaml
from spotify_assets.storage import instance_storage
from spotify_assets.storage.instance_storage import WarehouseEventLogStorage, is_daemon_process

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01")
FIRST, LAST = "2024-02-01", "2024-02-20"
RANGE_TAGS = {"dagster/asset_partition_range_start": FIRST, "dagster/asset_partition_range_end": LAST}


@dg.asset(partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run())
def first(context: dg.AssetExecutionContext) -> None:
    context.log.info(f"{len(context.partition_keys)} days")


@dg.asset(partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run(), deps=[first])
def second() -> None:
    pass


@dg.asset(partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run(), deps=[first])
def broken() -> None:
    raise ValueError("broken on purpose")


@pytest.fixture
def instance(
    tmp_path: Path, postgres_resource, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    """The project's instance (generated dagster.yaml) on the session's server, in a schema of its own."""
    monkeypatch.setenv("EMBEDDED_PG_DIR", postgres_resource.embedded_dir)
    monkeypatch.setenv("DAGSTER_PG_SCHEMA", f"storage_{os.getpid()}_{tmp_path.name}"[:60].lower())
    monkeypatch.delenv("DAGSTER_STORAGE", raising=False)
    get_settings.cache_clear()
    write_instance_yaml(tmp_path, Settings.from_mapping(os.environ))
    try:
        with dg.DagsterInstance.from_config(str(tmp_path)) as found:
            yield found
    finally:
        get_settings.cache_clear()


def test_a_run_keeps_one_connection_and_writes_a_range_in_few_statements(instance):
    assert isinstance(instance.event_log_storage, WarehouseEventLogStorage)
    engine = instance.event_log_storage._engine  # type: ignore[attr-defined]
    assert instance.run_storage._engine is engine  # type: ignore[attr-defined]
    assert instance.schedule_storage._engine is engine  # type: ignore[union-attr]
    connects: list[object] = []
    statements: list[str] = []
    event.listen(engine, "connect", lambda *_: connects.append(1))
    event.listen(engine, "before_cursor_execute", lambda _c, _k, statement, *_: statements.append(statement))

    result = dg.materialize([first, second], instance=instance, tags=RANGE_TAGS)

    assert result.success
    # Dagster's own pooling (NullPool) would connect once per statement; the first checks of Dagster's
    # secondary indexes, asked while the kept connection is in use, may open one more each.
    assert len(statements) > 50
    assert len(connects) <= 3, f"{len(connects)} connections opened for {len(statements)} statements"
    days = DAILY.get_partition_keys_in_range(dg.PartitionKeyRange(FIRST, LAST))
    for asset in (first, second):
        status = instance.get_status_by_partition(asset.key, days, DAILY)
        assert status == dict.fromkeys(days, dg.AssetPartitionStatus.MATERIALIZED)
        assert len(instance.fetch_materializations(asset.key, limit=100).records) == len(days)
    # 2 x 20 days planned and done: one event per asset for the plan, a batch per asset for the results,
    # and one statement each for the run's other events (start, steps, logs, success).
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO EVENT_LOGS")]
    run_events = len(instance.get_records_for_run(result.run_id).records)
    assert run_events > 2 * len(days)
    assert len(inserts) <= run_events - 2 * len(days) + 2


def test_dagsters_writes_commit_without_waiting_for_the_disk_and_the_warehouses_wait(
    instance, postgres_resource
):
    """Dagster's storage in its schema commits asynchronously (an event's fsync was most of its cost);
    the warehouse's connections keep PostgreSQL's default."""
    engine = instance.event_log_storage._engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
        assert conn.exec_driver_sql("SHOW search_path").scalar() == os.environ["DAGSTER_PG_SCHEMA"]
    result = dg.materialize([first], instance=instance, partition_key=FIRST)
    assert result.success
    with psycopg.connect(
        postgres_resource.conninfo(), autocommit=True
    ) as other:  # another session sees the run's events at once
        stored = other.execute(
            sql.SQL("SELECT count(*) FROM {}.event_logs WHERE run_id = %s").format(
                sql.Identifier(os.environ["DAGSTER_PG_SCHEMA"])
            ),
            (result.run_id,),
        ).fetchone()
        assert stored == (len(instance.get_records_for_run(result.run_id).records),)
    with postgres_resource.connect() as conn:
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)


def test_a_failed_range_run_marks_each_unfinished_day_failed(instance, monkeypatch):
    monkeypatch.setattr(instance_storage, "EVENT_BATCH_SIZE", "7")  # 20 days: written in three INSERTs
    days = DAILY.get_partition_keys_in_range(dg.PartitionKeyRange(FIRST, LAST))
    result = dg.materialize([first, broken], instance=instance, tags=RANGE_TAGS, raise_on_error=False)

    assert not result.success
    assert instance.get_status_by_partition(first.key, days, DAILY) == dict.fromkeys(
        days, dg.AssetPartitionStatus.MATERIALIZED
    )
    assert instance.get_status_by_partition(broken.key, days, DAILY) == dict.fromkeys(
        days, dg.AssetPartitionStatus.FAILED
    )


@dg.asset_check(asset=first, blocking=True)
def first_is_fine() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def test_a_range_runs_planned_check_rows_are_dagsters_with_the_event_serialized_and_sent_once(
    instance, monkeypatch
):
    serialized: list[str] = []
    serialize = instance_storage.serialize_value
    monkeypatch.setattr(
        instance_storage, "serialize_value", lambda v: serialized.append(serialize(v)) or serialized[-1]
    )
    days = DAILY.get_partition_keys_in_range(dg.PartitionKeyRange(FIRST, LAST))
    storage = instance.event_log_storage
    sent: list[object] = []

    def record_check_rows(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO asset_check_executions"):
            sent.extend(parameters.values() if isinstance(parameters, dict) else parameters)

    event.listen(storage._engine, "before_cursor_execute", record_check_rows)
    try:
        result = dg.materialize([first, first_is_fine], instance=instance, tags=RANGE_TAGS)
    finally:
        event.remove(storage._engine, "before_cursor_execute", record_check_rows)

    assert result.success
    assert len(serialized) == 1  # Dagster's own method serializes it once per day
    assert sent.count(serialized[0]) == 1  # and sends it once per day
    [planned] = instance.get_records_for_run(
        result.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED
    ).records
    ours = _planned_check_rows(storage, result.run_id)
    assert sorted(row[2] for row in ours) == days
    with storage.index_connection() as conn:  # the same event stored again by Dagster's own method
        conn.execute(
            AssetCheckExecutionsTable.delete().where(AssetCheckExecutionsTable.c.run_id == result.run_id)
        )
    SqlEventLogStorage._store_asset_check_evaluation_planned(
        storage, planned.event_log_entry, planned.storage_id
    )
    assert _planned_check_rows(storage, result.run_id) == ours


def test_a_batch_of_events_is_inserted_as_dagsters_own_statement_would_from_one_statement_form(instance):
    result = dg.materialize([first, second], instance=instance, tags=RANGE_TAGS)
    assert result.success
    storage = instance.event_log_storage
    records = instance.get_records_for_run(
        result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    entries = [record.event_log_entry for record in records]
    assert len(entries) == 40 and [r.storage_id for r in records] == sorted(r.storage_id for r in records)

    def inserted(statement) -> list[tuple]:
        table = SqlEventLogStorageTable
        with storage.index_connection() as conn:
            ids = [row[0] for row in conn.execute(statement.returning(table.c.id))]
            assert ids == sorted(ids)  # in the batch's order
            rows = conn.execute(db.select(table).where(table.c.id.in_(ids)).order_by(table.c.id)).fetchall()
            conn.execute(table.delete().where(table.c.id.in_(ids)))
        return [tuple(row)[1:] for row in rows]

    ours = inserted(storage.prepare_insert_event_batch(entries))
    assert ours == inserted(SqlEventLogStorage.prepare_insert_event_batch(storage, entries))
    assert [row[6] for row in ours] == [entry.dagster_event.partition for entry in entries]

    def sql_of(batch) -> str:
        return str(storage.prepare_insert_event_batch(batch).compile(storage._engine))

    assert sql_of(entries[:3]) == sql_of(entries)  # one statement form whatever the batch's size


def _planned_check_rows(storage: WarehouseEventLogStorage, run_id: str) -> list[tuple]:
    table = AssetCheckExecutionsTable.c
    columns = [table.asset_key, table.check_name, table.partition, table.execution_status]
    columns += [table.evaluation_event, table.evaluation_event_timestamp, table.evaluation_event_storage_id]
    with storage.index_connection() as conn:
        rows = conn.execute(
            db.select(*columns).where(table.run_id == run_id, table.execution_status == "PLANNED")
        ).fetchall()
    return sorted(tuple(row) for row in rows)


def test_the_daemon_keeps_dagsters_own_pooling():
    assert is_daemon_process(["/srv/.venv/bin/dagster-daemon", "run"])
    assert is_daemon_process([os.path.join("/srv/lib", "dagster", "_daemon", "__main__.py"), "run"])
    assert not is_daemon_process(["/srv/.venv/bin/dagster", "asset", "materialize"])
    assert not is_daemon_process(["/srv/.venv/bin/dagster-webserver"])


def test_a_connection_the_server_dropped_while_idle_is_replaced(instance, postgres_resource, monkeypatch):
    """The kept connection is tested when it comes back into use after IDLE_PING_SECONDS (here at once):
    one the server ended meanwhile (a restart, an idle timeout) is replaced, and the query succeeds."""
    engine = instance.event_log_storage._engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        dropped = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with postgres_resource.connect() as other:
        other.execute("SELECT pg_terminate_backend(%s)", (dropped,))
    monkeypatch.setattr(instance_storage, "IDLE_PING_SECONDS", 0.0)

    assert instance.get_runs() == []
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != dropped
