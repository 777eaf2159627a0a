"""Shared test fixtures: the real components (PostgreSQL, S3 over HTTP, Dagster instance) live in plugins."""

from pathlib import Path

import pytest

pytest_plugins = [
    "spotify_assets_tests.fixtures_postgres",
    "spotify_assets_tests.fixtures_s3",
]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURES_DIR = PROJECT_ROOT.parent / "shared" / "fixtures" / "spotify"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """`../shared/fixtures/spotify`: real Spotify files, read in place."""
    assert FIXTURES_DIR.is_dir(), f"missing shared fixtures at {FIXTURES_DIR}"
    return FIXTURES_DIR
