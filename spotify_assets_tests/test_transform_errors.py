"""A transform that raises fails its asset's step with the asset, the days and the transform named, as the
step's own error (not Dagster's "Error occurred while handling output"), and leaves the warehouse and the lake
as the previous good run left them."""

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from spotify_assets.assets.gold import GOLD_STEP
from spotify_assets.contracts.tables import DIM_ARTIST, FACT_RECENTLY_PLAYED, KEY_MAP, PLAYS, TableSpec
from spotify_assets.storage.warehouse import read_table
from spotify_assets.transforms import gold
from spotify_assets_tests.helpers import lake_digest, make_settings, materialize, user_shell_env

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

FIRST, LAST = "2025-06-01", "2025-06-02"
HANDLING_OUTPUT = "Error occurred while handling output"

# The project's definitions with silver's flattening of each recently-played item made to raise.
FAILING_DEFINITIONS = """
from spotify_assets.transforms import silver


def _fails(*args, **kwargs):
    raise ValueError("an item this transform cannot read")


silver._flatten_item = _fails

from spotify_assets.definitions import defs  # noqa: E402
"""


def materialize_cli(module: str, select: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", module, "--select", select,
               "--partition-range", f"{FIRST}...{LAST}"]  # fmt: skip
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def rows_of(postgres, spec: TableSpec) -> pd.DataFrame:
    with postgres.connect() as conn:
        frame = read_table(conn, spec)
    return frame.sort_values(list(spec.primary_key)).reset_index(drop=True)


def test_a_silver_transform_that_raises_fails_the_step_naming_it(tmp_path, clean_warehouse):
    env = user_shell_env(tmp_path, clean_warehouse, SPOTIFY_SOURCE="sample")
    good = materialize_cli("spotify_assets.definitions", "raw/recently_played,silver/plays", tmp_path, env)
    assert good.returncode == 0, good.stderr[-3000:]
    lake_before, silver_before = lake_digest(tmp_path / "lake"), rows_of(clean_warehouse, PLAYS)
    assert len(silver_before) > 0

    (tmp_path / "failing_definitions.py").write_text(FAILING_DEFINITIONS)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    failed = materialize_cli("failing_definitions", "silver/plays", tmp_path, env)

    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert (
        f"silver/plays: transform spotify_assets.transforms.silver.flatten_recently_played failed on "
        f"{FIRST}..{LAST} (2 days): ValueError: an item this transform cannot read"
    ) in output
    assert HANDLING_OUTPUT not in output
    assert lake_digest(tmp_path / "lake") == lake_before
    pd.testing.assert_frame_equal(rows_of(clean_warehouse, PLAYS), silver_before)


def test_a_gold_builder_that_raises_fails_the_gold_step_naming_its_table_which_keeps_the_old_rows(
    tmp_path, clean_warehouse, monkeypatch
):
    settings = make_settings(tmp_path, clean_warehouse)
    first, last = date.fromisoformat(FIRST), date.fromisoformat(LAST)
    materialize(settings, first, last)
    lake = tmp_path / "lake"
    fact_objects = {key for key in lake_digest(lake) if key.startswith("gold/fact_recently_played/")}
    before, fact_before = lake_digest(lake), rows_of(clean_warehouse, FACT_RECENTLY_PLAYED)
    assert len(fact_objects) == 2 and len(fact_before) > 0

    def fails(*args: object) -> None:
        raise RuntimeError("no play id today")

    monkeypatch.setattr(gold, "play_ids", fails)  # called by the fact's builder only
    result = materialize(settings, first, last, raise_on_error=False)

    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert failure.step_key == GOLD_STEP
    error = failure.step_failure_data.error
    assert error is not None and HANDLING_OUTPUT not in error.message
    assert error.message.endswith(
        f"gold/fact_recently_played: transform spotify_assets.transforms.gold.build_fact failed on "
        f"{FIRST}..{LAST} (2 days): RuntimeError: no play id today\n"
    )
    user_failure = failure.step_failure_data.user_failure_data
    assert user_failure is not None
    assert {key: value.value for key, value in user_failure.metadata.items()} == {
        "asset": "gold/fact_recently_played",
        "days": f"{FIRST}..{LAST} (2 days)",
        "transform": "spotify_assets.transforms.gold.build_fact",
    }
    assert error.cause is not None and "no play id today" in error.cause.message
    pd.testing.assert_frame_equal(rows_of(clean_warehouse, FACT_RECENTLY_PLAYED), fact_before)
    after = lake_digest(lake)
    assert {key: after[key] for key in fact_objects} == {key: before[key] for key in fact_objects}
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert PLAYS.asset_key in materialized
    assert DIM_ARTIST.asset_key in materialized  # written before the fact, in the same step
    assert KEY_MAP.asset_key not in materialized  # after it in the step: not written
    assert dg.AssetKey(["report", "listening"]) not in materialized  # downstream of the fact: not run
