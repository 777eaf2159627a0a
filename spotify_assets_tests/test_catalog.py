"""What the Dagster UI shows: descriptions, kinds, column schemas, the fact's freshness policy, and
materialization metadata (row counts equal to the warehouse's count(*), partition row counts, previews)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest
from psycopg import sql

from spotify_assets.assets.catalog import FACT_FRESHNESS_POLICY
from spotify_assets.contracts.settings import Settings
from spotify_assets.contracts.tables import TABLES
from spotify_assets.definitions import build_definitions
from spotify_assets_tests.helpers import make_settings, materialize

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

FIRST, LAST = date(2025, 3, 14), date(2025, 3, 15)
FACT = dg.AssetKey(["gold", "fact_recently_played"])


def asset_specs(defs: dg.Definitions) -> dict[str, dg.AssetSpec]:
    return {spec.key.to_user_string(): spec for assets in defs.assets for spec in assets.specs}


@pytest.mark.parametrize(
    ("overrides", "lake_kinds"),
    [({}, {"parquet"}), ({"lake_format": "csv", "s3_bucket_name": "my-lake"}, {"csv", "s3"})],
)
def test_every_asset_is_described_kinded_and_every_table_has_its_schema(overrides, lake_kinds):
    defs = build_definitions(Settings(spotify_source="sample", **overrides))
    specs = asset_specs(defs)
    for name, spec in specs.items():
        assert spec.description, name
        assert spec.kinds, name
        assert "lake_location" in spec.metadata, name
        assert ("s3" in spec.kinds) is ("s3" in lake_kinds), name
    for name, table in TABLES.items():
        spec = specs[name.replace(".", "/")]
        assert lake_kinds <= spec.kinds and {"postgres", "pandas"} <= spec.kinds, name
        assert not ({"parquet", "csv"} - lake_kinds) & spec.kinds, name
        schema = spec.metadata["dagster/column_schema"].schema
        assert [(c.name, c.type, c.description) for c in schema.columns] == [
            (c.name, c.pg_type, c.description) for c in table.columns
        ], name
        assert spec.metadata["dagster/table_name"] == table.qualified_name
    assert specs["gold/fact_recently_played"].freshness_policy == FACT_FRESHNESS_POLICY
    assert FACT_FRESHNESS_POLICY.warn_window.to_timedelta() == timedelta(hours=26)
    for check in defs.asset_checks:
        for spec in check.check_specs:
            assert spec.description, spec.key


def test_row_counts_equal_the_warehouse_for_a_range_in_one_run(tmp_path: Path, clean_warehouse):
    settings = make_settings(tmp_path, clean_warehouse)
    materialize(settings, FIRST - timedelta(days=1))
    result = materialize(settings, FIRST, LAST)
    lake = Path(settings.lake_dir)
    seen = set()
    with clean_warehouse.connect() as conn:
        for event in result.get_asset_materialization_events():
            metadata = {key: entry.value for key, entry in event.materialization.metadata.items()}
            name = ".".join(event.asset_key.path)
            if name == "raw.recently_played":
                path = lake / f"raw/recently_played/extraction_date={event.partition}/recently_played.json"
                stored = json.loads(path.read_text())
                assert metadata["dagster/partition_row_count"] == len(stored["items"])
            if name not in TABLES:
                continue
            spec = TABLES[name]
            table = sql.Identifier(spec.schema, spec.name)
            (total,) = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
            if event.partition == LAST.isoformat():  # the table's count rides on the range's last event
                assert metadata["dagster/row_count"] == total, name
            else:
                assert "dagster/row_count" not in metadata, (name, event.partition)
            if spec.partition_column:
                (rows,) = conn.execute(
                    sql.SQL("SELECT count(*) FROM {} WHERE extraction_date = %s").format(table),
                    (date.fromisoformat(event.partition),),
                ).fetchone()
            else:  # upserted: the partition's lake object lists the entities seen that day
                rows = None
            preview = metadata["preview"]
            if rows is not None:
                assert metadata["dagster/partition_row_count"] == rows, (name, event.partition)
            assert f"of {metadata['dagster/partition_row_count']} rows of `{name}`" in preview
            assert metadata["warehouse_table"] == name
            # The schema (the same for every partition) rides on the range's last event only.
            has_schema = "dagster/column_schema" in metadata
            assert has_schema == (event.partition == LAST.isoformat()), (name, event.partition)
            seen.add((name, event.partition))
    assert seen == {(name, day.isoformat()) for name in TABLES for day in (FIRST, LAST)}
    counts = {
        event.partition: event.materialization.metadata["dagster/partition_row_count"].value
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey(["silver", "plays"])
    }
    assert len(set(counts.values())) == 2  # each partition's own count, not the run's total
