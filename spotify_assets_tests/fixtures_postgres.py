"""Pytest plugin: a real embedded PostgreSQL (pgserver) for the session, and a clean warehouse per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg import sql

from spotify_assets.contracts.tables import TABLES
from spotify_assets.storage.postgres import PostgresResource, stop_embedded_server

WAREHOUSE_SCHEMAS = sorted({spec.schema for spec in TABLES.values()})


@pytest.fixture(scope="session")
def postgres_resource(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresResource]:
    """A PostgresResource on a session-private embedded server, stopped when the session ends."""
    resource = PostgresResource(embedded_dir=str(tmp_path_factory.mktemp("postgres")))
    try:
        with resource.connect() as conn:
            conn.execute("SELECT 1")
        yield resource
    finally:
        stop_embedded_server(resource.embedded_dir)


def drop_warehouse_schemas(resource: PostgresResource) -> None:
    """Drop the silver and gold schemas (and everything in them)."""
    with resource.connect() as conn:
        for schema in WAREHOUSE_SCHEMAS:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def clean_warehouse(postgres_resource: PostgresResource) -> PostgresResource:
    """The session's PostgresResource, with the warehouse schemas dropped first."""
    drop_warehouse_schemas(postgres_resource)
    return postgres_resource
