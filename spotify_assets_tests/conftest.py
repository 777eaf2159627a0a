"""Shared test fixtures: the real components (PostgreSQL, S3 over HTTP, Dagster instance) live in plugins."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster._core.storage.defs_state.base import DefsStateStorage

# Set before spotify_assets is imported, whatever a developer's .env says: the recorded API response (2017)
# and the exports (2022-2023) need partitions that reach back that far, and tests assume UTC day boundaries
# unless they build their definitions from Settings with another time zone.
os.environ["PARTITIONS_START_DATE"] = "2015-01-01"
os.environ["PARTITIONS_TIMEZONE"] = "UTC"

from spotify_assets_tests.helpers import user_shell_env  # noqa: E402 (after the settings above)

pytest_plugins = [
    "spotify_assets_tests.fixtures_postgres",
    "spotify_assets_tests.fixtures_s3",
    "spotify_assets_tests.fake_spotify",
    "spotify_assets_tests.alert_receivers",
    "spotify_assets_tests.alert_deployment",
]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURES_DIR = PROJECT_ROOT.parent / "shared" / "fixtures" / "spotify"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """`../shared/fixtures/spotify`: real Spotify files, read in place."""
    assert FIXTURES_DIR.is_dir(), f"missing shared fixtures at {FIXTURES_DIR}"
    return FIXTURES_DIR


@pytest.fixture
def pipeline_env(tmp_path, clean_warehouse) -> dict[str, str]:
    """Environment of a user's shell: a DAGSTER_HOME, the embedded stack, the sample source."""
    return user_shell_env(tmp_path, clean_warehouse, SPOTIFY_SOURCE="sample")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test leaves Dagster's current defs-state storage as it found it.

    Entering a DagsterInstance makes its storage the current one (a ContextVar), and only leaving it resets
    that. An instance entered and never left (a `build_schedule_context` on a persistent instance, used
    without `with`) is reset when the garbage collector finalizes it, during some later test, to the storage
    of an instance closed since: that test then fails with "Attempted to resolve undefined DagsterInstance
    weakref". Failing here names the test that left it open instead.
    """
    before = DefsStateStorage.get()
    result = yield
    after = DefsStateStorage.get()
    assert after is before, (
        f"{item.nodeid} left a Dagster instance entered (its defs-state storage is still current): "
        "close what enters one, e.g. `with dg.build_schedule_context(...) as context:`"
    )
    return result


LONGEST_MODULES = (
    "test_alert_deploy_refused_token.py",
    "test_alert_deploy_stopped_capture.py",
    "test_deploy.py",
    "test_restart.py",
    "test_range_runs.py",
    "test_capture_simulation.py",
    "test_household.py",
)
"""The modules that take the longest (minutes, with their module fixtures): handed out first."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, the longest tests first: the longest modules, then the other slow tests, the rest.

    xdist (`--dist loadfile --no-loadscope-reorder`) hands whole modules out in this order, so a long module
    never starts last on one worker while the others have nothing left to do. A run without workers keeps the
    order it was given (to run modules in a chosen order).
    """
    if not hasattr(config, "workerinput"):  # not an xdist worker
        return

    def rank(item: pytest.Item) -> tuple[int, bool]:
        module = item.path.name
        first = LONGEST_MODULES.index(module) if module in LONGEST_MODULES else len(LONGEST_MODULES)
        return first, item.get_closest_marker("slow") is None

    items.sort(key=rank)
