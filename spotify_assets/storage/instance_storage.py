"""Dagster's own storage (runs, event logs, schedule state) in schema `dagster` of the warehouse's PostgreSQL.

`WarehouseInstanceStorage` is dagster-postgres's storage with its connection taken from the project settings:
the embedded PostgreSQL under EMBEDDED_PG_DIR (started when it is not running) or the server DB_HOST names.
dagster.yaml names the class and the schema only, so no password is ever written there:

```yaml
storage:
  custom:
    module: spotify_assets.storage.instance_storage
    class: WarehouseInstanceStorage
    config:
      schema: dagster
```

Three things make a run over a range of days cost what its data costs (see docs/range-runs.md):
- a run plans each asset's range as one event (Dagster's partition-subset planned event) instead of one event
  per asset per day; when such a run fails, the days it did not materialize are recorded per day
  (`record_unfinished_days`), so Dagster's partition status shows them failed as it does for per-day planning;
- Dagster writes a range's materializations in batches (DAGSTER_EVENT_BATCH_SIZE, set here unless set);
- a process keeps one connection for all three storages, except the daemon (Dagster's own NullPool) and the
  webserver (Dagster's own pool, `optimize_for_webserver`).

And each event commits without waiting for the disk (`SYNCHRONOUS_COMMIT`), which is most of what a
one-day run's events cost.
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import psycopg
import sqlalchemy as db
from dagster import AssetKey, DagsterEventType, Field, StringSource
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationPlanned
from dagster._core.events import AssetMaterializationPlannedData, DagsterEvent
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster._core.storage.runs.base import RunStorage
from dagster._serdes import ConfigurableClassData, deserialize_value, serialize_value
from dagster_postgres import DagsterPostgresStorage, PostgresRunStorage, PostgresScheduleStorage
from dagster_postgres.utils import create_pg_engine, get_conn_string
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.dialects.postgresql import ARRAY

from spotify_assets.contracts.settings import Settings, get_settings, secret_value
from spotify_assets.storage.postgres import CONNECT_TIMEOUT_S, EMBEDDED_USER, embedded_server
from spotify_assets.storage.run_event_order import StatusFirstEventLogStorage

SCHEMA_LOCK_KEY = 0x5D17A9  # any fixed number: serializes CREATE SCHEMA between processes starting at once
EVENT_BATCH_SIZE = "1000"
"""Materialization events of one output written per INSERT (Dagster's DAGSTER_EVENT_BATCH_SIZE)."""
POOL_OVERFLOW = 4
"""Connections opened beyond the kept one while other threads of the process hold it (closed on return)."""
IDLE_PING_SECONDS = 5.0
"""A connection back in the pool longer than this is tested before its next use (`ping_after_idle`)."""
SYNCHRONOUS_COMMIT = "off"
"""Dagster's writes commit without waiting for the disk (PostgreSQL's asynchronous commit).

Each event is its own transaction: waiting for its WAL to reach the disk (an fsync, 2-3 ms here) is most of
what storing it costs, 250-odd times in a one-day run of the graph. A commit is visible to every other
session at once as before; only a crash of the server or the machine can lose the last fraction of a second
of committed events (never corrupt them), which a re-run writes again. The warehouse's own writes (the data)
keep PostgreSQL's default, `on`.
"""
CHECKED_IN = "spotify_assets_checked_in"
"""Key of a pooled connection's `info` holding when it was last returned to the pool (`ping_after_idle`)."""


def _embedded_target(settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    info = embedded_server(settings.embedded_pg_dir).get_postmaster_info()
    host = str(info.socket_dir) if info.socket_dir is not None else info.hostname  # TCP on Windows
    libpq = {"host": host, "port": info.port, "dbname": "postgres", "user": EMBEDDED_USER}
    # dagster-postgres puts `hostname` into the URL's authority, where a socket folder cannot go: the
    # folder travels as the `host` query parameter instead.
    url: dict[str, Any] = {
        "username": EMBEDDED_USER,
        "hostname": "",
        "port": str(info.port),
        "db_name": "postgres",
    }
    return libpq, {**url, "params": {"host": host}}


def _external_target(settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    libpq = {
        "host": settings.db_host,
        "port": settings.db_port,
        "dbname": settings.db_name,
        "user": settings.db_user,
        "password": secret_value(settings.db_password),
        "sslmode": settings.db_sslmode,
    }
    params = {"sslmode": settings.db_sslmode} if settings.db_sslmode else {}
    url = {
        "username": settings.db_user,
        "password": secret_value(settings.db_password) or "",
        "hostname": settings.db_host,
        "port": str(settings.db_port),
        "db_name": settings.db_name,
        "params": params,
    }
    return libpq, url


def ensure_schema(libpq: dict[str, Any], schema: str) -> None:
    """Create the instance's schema if missing (Dagster creates its tables, not the schema they go in)."""
    conninfo = make_conninfo(
        **{key: value for key, value in libpq.items() if value is not None}, connect_timeout=CONNECT_TIMEOUT_S
    )
    with psycopg.connect(conninfo) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def instance_postgres_url(settings: Settings, schema: str) -> str:
    """The SQLAlchemy URL of the instance storage, its schema created; never log it (it may hold secrets)."""
    libpq, url = _embedded_target(settings) if settings.uses_embedded_postgres else _external_target(settings)
    ensure_schema(libpq, schema)
    # search_path puts all of Dagster's tables (and its alembic version table) into the schema.
    options = f"-csearch_path={schema} -csynchronous_commit={SYNCHRONOUS_COMMIT}"
    params = {**url.pop("params"), "options": options, "application_name": "dagster"}
    return get_conn_string(**url, params=params)


def is_daemon_process(argv: Sequence[str]) -> bool:
    """Whether this is dagster-daemon (`dagster-daemon run`, or `python -m dagster._daemon` under dev)."""
    program = argv[0] if argv else ""
    return os.path.basename(program) == "dagster-daemon" or program.endswith(
        os.path.join("dagster", "_daemon", "__main__.py")
    )


class WarehouseEventLogStorage(StatusFirstEventLogStorage):
    """The instance's event log, planning a range as one event per asset and recording its failed days."""

    def __init__(self, postgres_url: str, run_storage: RunStorage) -> None:
        self._tables_present: set[str] = set()
        self._asset_key_columns: set[str] = set()
        super().__init__(postgres_url, run_storage)

    @property
    def supports_partition_subset_in_asset_materialization_planned_events(self) -> bool:
        return True

    def has_table(self, table_name: str) -> bool:
        # Asked inside the transaction that stores each batch of events: answered from memory once a table
        # exists (tables are never dropped under a running process), not over a second connection each time.
        if table_name not in self._tables_present:
            if not super().has_table(table_name):
                return False
            self._tables_present.add(table_name)
        return True

    def _has_asset_key_col_on_connection(self, conn: db.Connection, column_name: str) -> bool:
        # Asked for every asset event (a reflection of asset_keys: three catalog queries each time); answered
        # from memory once the column exists, as `has_table` (a migration only ever adds columns).
        if column_name not in self._asset_key_columns:
            if not super()._has_asset_key_col_on_connection(conn, column_name):
                return False
            self._asset_key_columns.add(column_name)
        return True

    def store_event(self, event: EventLogEntry) -> None:
        super().store_event(event)
        if event.dagster_event is not None and event.dagster_event.is_run_failure:
            self.record_unfinished_days(event.run_id)

    def prepare_insert_event_batch(self, events: Sequence[EventLogEntry]) -> Any:
        """Dagster's INSERT of a batch of events (a range's materializations, 1,000 a statement) as one
        `INSERT ... SELECT` from an array per column, in the batch's order: the same rows, from a statement
        whose form does not depend on the batch's size.

        Dagster's own is a multi-row VALUES of 7,000 bind parameters, which SQLAlchemy compiles anew for every
        batch: preparing a batch of 1,000 takes 360 ms with it and 200 ms with this one (the rest is
        serializing the events), about 7 s of a decade's 44 batches. This one is compiled once per process.
        """
        rows = [self._event_to_row(event) for event in events]
        names = list(rows[0])
        table = SqlEventLogStorageTable
        arrays = [
            db.bindparam(f"{name}s", [row[name] for row in rows], type_=ARRAY(table.c[name].type))
            for name in names
        ]
        source = db.func.unnest(*arrays).table_valued(*names, with_ordinality="position").render_derived()
        ordered = db.select(*(source.c[name] for name in names)).order_by(source.c.position)
        return table.insert().from_select(names, ordered)

    def _store_asset_check_evaluation_planned(self, event: EventLogEntry, event_id: int | None) -> None:
        """Dagster's rows for a planned check, one per partition of the run, in one statement that sends the
        event once.

        Dagster's own method serializes the same event again for each row and sends a row of parameters per
        partition: for a decade's range, 3,653 rows per check, about a millisecond each, before the run's
        first step. Here the server makes the rows from the array of partition keys (`unnest`).
        """
        planned = event.dagster_event.event_specific_data if event.dagster_event else None
        assert isinstance(planned, AssetCheckEvaluationPlanned)
        subset = planned.partitions_subset
        partition_keys: Sequence[str | None] = list(subset.get_partition_keys()) if subset else [None]
        partitions = db.func.unnest(db.bindparam("partitions", partition_keys, type_=ARRAY(db.Text)))
        rows = db.select(
            db.literal(planned.asset_key.to_string(), db.Text),
            db.literal(planned.check_name, db.Text),
            partitions.column_valued("partition"),
            db.literal(event.run_id, db.String),
            db.literal(AssetCheckExecutionRecordStatus.PLANNED.value, db.String),
            db.literal(serialize_value(event), db.Text),
            db.literal(self._event_insert_timestamp(event), db.DateTime),
            db.literal(event_id, db.BigInteger),
        )
        columns = ["asset_key", "check_name", "partition", "run_id", "execution_status"]
        columns += ["evaluation_event", "evaluation_event_timestamp", "evaluation_event_storage_id"]
        with self.index_connection() as conn:
            conn.execute(AssetCheckExecutionsTable.insert().from_select(columns, rows))

    def record_unfinished_days(self, run_id: str) -> int:
        """For a failed run, a planned event per day of its ranges it did not materialize; their count.

        Dagster marks a day failed when its latest planned event, in a failed run, has no materialization
        after it; a range planned as one event has no day to mark until these are written.
        """
        events = SqlEventLogStorageTable.c
        with self.index_connection() as conn:
            planned_rows = conn.execute(
                db.select(events.event).where(
                    events.run_id == run_id,
                    events.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED.value,
                    events.partition.is_(None),
                )
            ).fetchall()
            done_rows = conn.execute(
                db.select(events.asset_key, events.partition).where(
                    events.run_id == run_id,
                    events.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION.value,
                )
            ).fetchall()
        done: dict[str, set[str]] = defaultdict(set)
        for asset_key, partition in done_rows:
            done[asset_key].add(partition)
        unfinished: list[EventLogEntry] = []
        for (serialized,) in planned_rows:
            entry = deserialize_value(serialized, EventLogEntry)
            planned = entry.dagster_event.event_specific_data if entry.dagster_event else None
            if not isinstance(planned, AssetMaterializationPlannedData) or planned.partitions_subset is None:
                continue
            finished = done[planned.asset_key.to_string()]
            unfinished.extend(
                _planned_day(entry, planned.asset_key, key)
                for key in planned.partitions_subset.get_partition_keys()
                if key not in finished
            )
        if unfinished:
            self._store_planned_days(unfinished)
        return len(unfinished)

    def _store_planned_days(self, entries: list[EventLogEntry]) -> None:
        ids: list[int] = []
        with self._connect() as conn:
            for start in range(0, len(entries), int(EVENT_BATCH_SIZE)):  # a decade's days: 40,000 rows
                insert = self.prepare_insert_event_batch(entries[start : start + int(EVENT_BATCH_SIZE)])
                ids.extend(row[0] for row in conn.execute(insert.returning(SqlEventLogStorageTable.c.id)))
        last: dict[AssetKey, tuple[EventLogEntry, int]] = {}
        for entry, event_id in zip(entries, ids, strict=True):
            last[entry.dagster_event.asset_key] = (entry, event_id)  # type: ignore[index,union-attr]
        with self.index_transaction() as conn:
            for entry, event_id in last.values():
                self._store_asset_event(conn, entry, event_id)


def _planned_day(range_entry: EventLogEntry, asset_key: AssetKey, partition: str) -> EventLogEntry:
    dagster_event = DagsterEvent.build_asset_materialization_planned_event(
        range_entry.job_name or "",
        range_entry.step_key or "",
        AssetMaterializationPlannedData(asset_key, partition=partition),
    )
    return range_entry._replace(dagster_event=dagster_event, user_message=dagster_event.message or "")


def ping_after_idle(engine: db.Engine) -> None:
    """Test the kept connection when it leaves the pool after IDLE_PING_SECONDS unused, as `pool_pre_ping`
    does at every checkout: a run checks it out hundreds of times a second, each ping a round trip, while a
    connection the server dropped (a restart, an idle timeout) has sat unused. A failed ping makes the pool
    connect again (SQLAlchemy's pessimistic disconnect handling)."""
    db.event.listen(engine, "checkin", _mark_checked_in)
    db.event.listen(engine, "checkout", _ping_if_idle)


def _mark_checked_in(dbapi_connection: Any, record: Any) -> None:
    record.info[CHECKED_IN] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, *_: Any) -> None:
    if time.monotonic() - record.info.get(CHECKED_IN, float("-inf")) < IDLE_PING_SECONDS:
        return
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT 1")
    except Exception as error:
        raise db.exc.DisconnectionError(f"the instance's connection is gone: {error}") from error
    finally:
        cursor.close()


class WarehouseInstanceStorage(DagsterPostgresStorage):
    """Dagster's runs, events and schedules in a schema of the warehouse's PostgreSQL (from the settings)."""

    def __init__(self, postgres_url: str, inst_data: ConfigurableClassData | None = None) -> None:
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)
        # dagster-postgres's three storages, the event log one storing a run's status before its event.
        self.postgres_url = postgres_url
        self.should_autocreate_tables = True
        self._inst_data = inst_data
        self._run_storage = PostgresRunStorage(postgres_url)
        self._event_log_storage = WarehouseEventLogStorage(postgres_url, self._run_storage)
        self._schedule_storage = PostgresScheduleStorage(postgres_url)
        super(DagsterPostgresStorage, self).__init__()
        if not is_daemon_process(sys.argv):
            engine = create_pg_engine(
                postgres_url,
                isolation_level="AUTOCOMMIT",
                pool_size=1,
                max_overflow=POOL_OVERFLOW,
            )
            ping_after_idle(engine)
            for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
                storage._engine.dispose()
                storage._engine = engine

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {
            "schema": Field(
                StringSource,
                default_value="dagster",
                is_required=False,
                description="Schema of Dagster's tables, next to the warehouse's silver and gold.",
            )
        }

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: dict[str, Any]
    ) -> WarehouseInstanceStorage:
        url = instance_postgres_url(get_settings(), config_value["schema"])
        return cls(postgres_url=url, inst_data=inst_data)
