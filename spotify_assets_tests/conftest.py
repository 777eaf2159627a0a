"""Shared test fixtures: the real components (PostgreSQL, S3 over HTTP, Dagster instance) live in plugins."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Set before spotify_assets is imported, whatever a developer's .env says: the recorded API response (2017)
# and the exports (2022-2023) need partitions that reach back that far, and tests assume UTC day boundaries
# (a test that needs another time zone runs itself in a subprocess with SPOTIFY_ASSETS_TEST_TIMEZONE set).
os.environ["PARTITIONS_START_DATE"] = "2015-01-01"
TEST_TIMEZONE_VARIABLE = "SPOTIFY_ASSETS_TEST_TIMEZONE"
os.environ["PARTITIONS_TIMEZONE"] = os.environ.get(TEST_TIMEZONE_VARIABLE, "UTC")

pytest_plugins = [
    "spotify_assets_tests.fixtures_postgres",
    "spotify_assets_tests.fixtures_s3",
    "spotify_assets_tests.fake_spotify",
]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURES_DIR = PROJECT_ROOT.parent / "shared" / "fixtures" / "spotify"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """`../shared/fixtures/spotify`: real Spotify files, read in place."""
    assert FIXTURES_DIR.is_dir(), f"missing shared fixtures at {FIXTURES_DIR}"
    return FIXTURES_DIR


@pytest.fixture(autouse=True)
def no_stale_defs_state_storage() -> Iterator[None]:
    """Each test starts with no current Dagster defs-state storage. In Dagster 1.13.27,
    `DagsterInstance.__exit__` disposes the instance but leaves its storage the current one (a ContextVar it
    never resets), so a test after one that used `with DagsterInstance...` could build definitions against a
    collected instance ("Attempted to resolve undefined DagsterInstance weakref", seen once in a full run)."""
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)
    yield
    _current_storage.set(None)
