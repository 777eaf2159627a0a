"""The recipe of docs/adding-a-table.md, followed: a gold spec and its builder, and nothing else, get their
asset, warehouse table, lake objects, checks and metadata.

The throwaway spec and builder are put in the registries for this test only (`monkeypatch.setitem`): no other
test sees them.
"""

from datetime import date

import dagster as dg
import pandas as pd
import pytest

from spotify_assets.contracts.table_frames import conform
from spotify_assets.contracts.tables import PLAYS, TABLES, Column, TableSpec
from spotify_assets.definitions import build_definitions
from spotify_assets.operations.rebuild import run_rebuild
from spotify_assets.storage.warehouse import read_table
from spotify_assets.transforms.gold import GOLD_BUILDERS, GoldBuilder
from spotify_assets_tests.helpers import make_settings, materialize

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

DAY = date(2025, 3, 14)


def build_daily_listening(plays: pd.DataFrame) -> pd.DataFrame:
    """Step 2 of the recipe, the transform: a day's silver plays -> one row per listener."""
    frame = plays.groupby(["listener_id", "extraction_date"], as_index=False).agg(
        plays=("track_key", "size"), tracks=("track_key", "nunique")
    )
    return conform(frame, DAILY_LISTENING)


# Step 1 of the recipe, the spec: columns, key and write mode.
COLUMNS = (
    Column("listener_id", "text", "Whose plays", nullable=False),
    Column("extraction_date", "date", "The daily partition", nullable=False),
    Column("plays", "bigint", "Plays on the day", nullable=False),
    Column("tracks", "bigint", "Distinct tracks played on the day", nullable=False),
)
DAILY_LISTENING = TableSpec(
    schema="gold",
    name="daily_listening",
    description="Plays and distinct tracks of each listener on each day.",
    columns=COLUMNS,
    primary_key=("listener_id", "extraction_date"),
    write_mode="replace_partition",
    partition_column="extraction_date",
)
# Step 2's other half: the builder's entry, by table.
BUILDER = GoldBuilder(build_daily_listening)


def test_a_gold_spec_and_its_builder_are_all_a_new_table_needs(
    tmp_path, clean_warehouse, monkeypatch, capsys
):
    monkeypatch.setitem(TABLES, DAILY_LISTENING.qualified_name, DAILY_LISTENING)
    monkeypatch.setitem(GOLD_BUILDERS, DAILY_LISTENING.qualified_name, BUILDER)
    settings = make_settings(tmp_path, clean_warehouse)
    key = DAILY_LISTENING.asset_key

    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    assert graph.get(key).group_name == "gold"
    (catalog,) = [
        spec for spec in graph.get(key).to_asset_spec().metadata.items() if spec[0] == "warehouse_table"
    ]
    assert catalog == ("warehouse_table", "gold.daily_listening")
    # In the daily job, so the daily schedule's runs build it.
    daily_job = defs.resolve_job_def("medallion_daily")
    assert key in daily_job.asset_layer.executable_asset_keys
    assert any(s.job_name == "medallion_daily" for s in defs.schedules or [])

    result = materialize(settings, DAY)  # raises unless every asset and blocking check passed

    with clean_warehouse.connect() as conn:
        table = read_table(conn, DAILY_LISTENING)
        plays = read_table(conn, PLAYS)
    assert len(plays) > 0
    expected = build_daily_listening(plays)
    assert table.sort_values("listener_id").reset_index(drop=True).equals(expected)

    lake_object = (
        tmp_path / "lake" / "gold" / "daily_listening" / f"extraction_date={DAY}" / "daily_listening.parquet"
    )
    assert lake_object.is_file()

    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations() if e.asset_key == key}
    assert checks == {"unique_key": True, "valid_values": True}

    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    metadata = event.step_materialization_data.materialization.metadata
    assert metadata["dagster/row_count"].value == len(expected)
    schema = metadata["dagster/column_schema"].value
    assert isinstance(schema, dg.TableSchema)
    assert [column.name for column in schema.columns] == list(DAILY_LISTENING.column_names)

    # `spotify-assets rebuild gold/daily_listening` knows it and rebuilds it from its lake objects.
    capsys.readouterr()
    assert run_rebuild(settings, "gold/daily_listening", dry_run=True) == 0
    printed = capsys.readouterr().out
    assert f"--select gold/daily_listening --partition-range {DAY}...{DAY}" in printed


def test_the_throwaway_table_is_gone_after_its_test():
    assert DAILY_LISTENING.qualified_name not in TABLES
    assert DAILY_LISTENING.qualified_name not in GOLD_BUILDERS
