"""PostgresIOManager on its own, as another Dagster project would use it: a throwaway Definitions."""

from typing import Any

import dagster as dg
import pandas as pd
import pytest

from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.tables import DIM_ARTIST, PLAYS
from spotify_assets.storage.postgres import PostgresResource
from spotify_assets.storage.postgres_io import PostgresIOManager
from spotify_assets.storage.warehouse import read_table
from spotify_assets_tests.warehouse_frames import DAY, NEXT_DAY, artists, assert_same_rows, plays

LAST_DAY = "2025-03-16"
DAYS = dg.DailyPartitionsDefinition(start_date="2025-03-01")
KEY = "warehouse_io_manager"


def run(
    assets: list[Any],
    postgres: PostgresResource,
    *,
    partition_key: str | None = None,
    partition_range: tuple[str, str] | None = None,
    selection: list[Any] | None = None,
) -> dg.ExecuteInProcessResult:
    """One run of `assets` from a Definitions whose only IO manager is a PostgresIOManager."""
    defs = dg.Definitions(assets=assets, resources={KEY: PostgresIOManager(postgres=postgres)})
    tags = {}
    if partition_range:
        tags = {
            "dagster/asset_partition_range_start": partition_range[0],
            "dagster/asset_partition_range_end": partition_range[1],
        }
    job = defs.resolve_implicit_global_asset_job_def()
    if selection is not None:
        job = dg.define_asset_job("selected", selection=selection).resolve(
            asset_graph=defs.resolve_asset_graph()
        )
    return job.execute_in_process(partition_key=partition_key, tags=tags, raise_on_error=False)


def materialization(result: dg.ExecuteInProcessResult, partition: str) -> dict[str, Any]:
    events = [m for m in result.get_asset_materialization_events() if m.partition == partition]
    assert len(events) == 1
    return {key: value.value for key, value in events[0].materialization.metadata.items()}


def silver_plays_asset(fn: Any) -> dg.AssetsDefinition:
    """`fn` as silver/plays: daily, stored by the PostgresIOManager, ranges as single runs."""
    return dg.asset(
        key=["silver", "plays"],
        partitions_def=DAYS,
        io_manager_key=KEY,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )(fn)


def plays_asset(name_of_run: list[str]) -> dg.AssetsDefinition:
    """silver/plays, daily, single-run backfills; each run names its tracks after `name_of_run[0]`."""

    @silver_plays_asset
    def silver_plays(context: dg.AssetExecutionContext) -> dict[str, pd.DataFrame]:
        return {key: plays(key, 2, name_of_run[0]) for key in context.partition_keys}

    return silver_plays


def test_a_range_run_replaces_its_partitions_and_a_downstream_asset_reads_them_back(clean_warehouse):
    name = ["first"]
    silver_plays = plays_asset(name)
    seen: dict[str, list[str]] = {}

    @dg.asset(partitions_def=DAYS, ins={"plays": dg.AssetIn(key=["silver", "plays"])})
    def track_names(plays: dict[str, pd.DataFrame]) -> None:
        seen.update({key: sorted(set(frame["track_name"])) for key, frame in plays.items()})

    assert run([silver_plays], clean_warehouse, partition_range=(DAY, LAST_DAY)).success
    name[0] = "second"
    result = run([silver_plays], clean_warehouse, partition_range=(NEXT_DAY, LAST_DAY))
    assert result.success
    with clean_warehouse.connect() as conn:
        table = read_table(conn, PLAYS)
    names = {str(day): set(rows["track_name"]) for day, rows in table.groupby("extraction_date")}
    assert names == {DAY: {"first"}, NEXT_DAY: {"second"}, LAST_DAY: {"second"}}
    metadata = materialization(result, LAST_DAY)
    assert metadata["rows_written"] == 4
    assert metadata["dagster/row_count"] == 6
    assert metadata["dagster/table_name"] == metadata["warehouse_table"] == "silver.plays"
    assert [c.name for c in metadata["dagster/column_schema"].columns] == list(PLAYS.column_names)

    downstream = run(
        [silver_plays, track_names], clean_warehouse, partition_range=(DAY, NEXT_DAY), selection=[track_names]
    )
    assert downstream.success
    assert seen == {DAY: ["first"], NEXT_DAY: ["second"]}


def test_one_partition_may_be_a_plain_frame_and_a_day_batches_is_written_in_one_transaction(clean_warehouse):
    @dg.asset(key=["silver", "plays"], partitions_def=DAYS, io_manager_key=KEY)
    def one_day(context: dg.AssetExecutionContext) -> pd.DataFrame:
        return plays(context.partition_key, 3, "plain")

    assert run([one_day], clean_warehouse, partition_key=DAY).success

    @silver_plays_asset
    def batched(context: dg.AssetExecutionContext) -> DayBatches:
        keys = context.partition_keys
        return DayBatches(keys, lambda batch: {key: plays(key, 1, "batched") for key in batch}, batch_days=1)

    result = run([batched], clean_warehouse, partition_range=(DAY, LAST_DAY))
    assert result.success
    assert materialization(result, DAY)["rows_written"] == 3
    with clean_warehouse.connect() as conn:
        assert read_table(conn, PLAYS)["track_name"].tolist() == ["batched"] * 3


def test_an_unpartitioned_upsert_table_merges_by_key_and_loads_whole(clean_warehouse):
    frames = iter(
        [
            artists([("a1", "Old", "2025-03-14T10:00:00Z", "2025-03-14T10:00:00Z")]),
            artists(
                [
                    ("a1", "New", "2025-03-15T09:00:00Z", "2025-03-15T09:00:00Z"),
                    ("a2", "Other", "2025-03-15T09:00:00Z", "2025-03-15T09:00:00Z"),
                ]
            ),
        ]
    )
    loaded: dict[str, pd.DataFrame] = {}

    @dg.asset(key=["gold", "dim_artist"], io_manager_key=KEY)
    def dim_artist() -> pd.DataFrame:
        return next(frames)

    @dg.asset(ins={"artists": dg.AssetIn(key=["gold", "dim_artist"])})
    def artist_count(artists: dict[str, pd.DataFrame]) -> None:
        loaded.update(artists)

    assert run([dim_artist], clean_warehouse).success
    result = run([dim_artist], clean_warehouse)
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["rows_written"].value == 2
    assert metadata["dagster/row_count"].value == 2
    assert run([dim_artist, artist_count], clean_warehouse, selection=[artist_count]).success
    expected = artists(
        [
            ("a1", "New", "2025-03-14T10:00:00Z", "2025-03-15T09:00:00Z"),
            ("a2", "Other", "2025-03-15T09:00:00Z", "2025-03-15T09:00:00Z"),
        ]
    )
    assert list(loaded) == [""]
    assert_same_rows(loaded[""], expected, DIM_ARTIST)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda key: plays(NEXT_DAY if key == DAY else DAY, 2, "misfiled"), id="another-day"),
        pytest.param(lambda key: plays(key, 2, "x").assign(listener_id=None), id="null-key"),
    ],
)
def test_a_failing_write_leaves_the_previous_rows(clean_warehouse, bad):
    good = plays_asset(["good"])
    assert run([good], clean_warehouse, partition_range=(DAY, NEXT_DAY)).success

    @silver_plays_asset
    def silver_plays(context: dg.AssetExecutionContext) -> dict[str, pd.DataFrame]:
        return {key: plays(key, 5, "new") if key == NEXT_DAY else bad(key) for key in context.partition_keys}

    result = run([silver_plays], clean_warehouse, partition_range=(DAY, NEXT_DAY))
    assert not result.success
    assert "silver.plays" in str(result.get_step_failure_events()[0].event_specific_data.error)
    with clean_warehouse.connect() as conn:
        table = read_table(conn, PLAYS)
    assert table["track_name"].tolist() == ["good"] * 4
