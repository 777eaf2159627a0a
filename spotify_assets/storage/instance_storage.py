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
"""

from __future__ import annotations

from typing import Any

import psycopg
from dagster import Field, StringSource
from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage, PostgresRunStorage, PostgresScheduleStorage
from dagster_postgres.utils import get_conn_string
from psycopg import sql
from psycopg.conninfo import make_conninfo

from spotify_assets.contracts.settings import Settings, get_settings
from spotify_assets.storage.postgres import CONNECT_TIMEOUT_S, EMBEDDED_USER, embedded_server
from spotify_assets.storage.run_event_order import StatusFirstEventLogStorage

SCHEMA_LOCK_KEY = 0x5D17A9  # any fixed number: serializes CREATE SCHEMA between processes starting at once


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
        "password": settings.db_password,
        "sslmode": settings.db_sslmode,
    }
    params = {"sslmode": settings.db_sslmode} if settings.db_sslmode else {}
    url = {
        "username": settings.db_user,
        "password": settings.db_password or "",
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
    params = {**url.pop("params"), "options": f"-csearch_path={schema}", "application_name": "dagster"}
    return get_conn_string(**url, params=params)


class WarehouseInstanceStorage(DagsterPostgresStorage):
    """Dagster's runs, events and schedules in a schema of the warehouse's PostgreSQL (from the settings)."""

    def __init__(self, postgres_url: str, inst_data: ConfigurableClassData | None = None) -> None:
        # dagster-postgres's three storages, the event log one storing a run's status before its event.
        self.postgres_url = postgres_url
        self.should_autocreate_tables = True
        self._inst_data = inst_data
        self._run_storage = PostgresRunStorage(postgres_url)
        self._event_log_storage = StatusFirstEventLogStorage(postgres_url, self._run_storage)
        self._schedule_storage = PostgresScheduleStorage(postgres_url)
        super(DagsterPostgresStorage, self).__init__()

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
