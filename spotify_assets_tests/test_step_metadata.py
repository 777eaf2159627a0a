"""A range run's per-partition metadata handed to Dagster in one update lands on each partition's event as
Dagster's own call per partition puts it there."""

from collections.abc import Callable

import dagster as dg
import pytest

from spotify_assets.storage import step_metadata
from spotify_assets.storage.step_metadata import add_partition_metadata

PARTITIONS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-02-01")
DAYS = ["2026-01-03", "2026-01-04", "2026-01-05"]
RANGE_TAGS = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]}


def per_day() -> dict[str, dict[str, object]]:
    return {day: {"rows": n, "uri": f"lake/{day}", "gap": n == 1} for n, day in enumerate(DAYS)}


def ranged(add: Callable[[dg.AssetExecutionContext], None]) -> dg.AssetsDefinition:
    @dg.asset(partitions_def=PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run())
    def table(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        context.add_asset_metadata({"rows": -1, "early": True}, partition_key=DAYS[0])
        add(context)
        return dg.MaterializeResult(metadata={"total": 3})

    return table


def event_metadata(table: dg.AssetsDefinition) -> dict[str, dict[str, object]]:
    result = dg.materialize([table], tags=RANGE_TAGS, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    return {
        event.partition: {key: value.value for key, value in event.materialization.metadata.items()}
        for event in result.get_asset_materialization_events()
    }


def one_by_one(context: dg.AssetExecutionContext) -> None:
    for day, values in per_day().items():
        context.add_asset_metadata(values, partition_key=day)


def at_once(context: dg.AssetExecutionContext) -> None:
    add_partition_metadata(context, per_day())


def test_metadata_added_at_once_is_what_dagster_records_one_partition_at_a_time():
    expected = event_metadata(ranged(one_by_one))
    assert expected[DAYS[0]] == {"rows": 0, "uri": f"lake/{DAYS[0]}", "gap": False, "early": True, "total": 3}
    assert event_metadata(ranged(at_once)) == expected


def test_without_the_accumulator_it_adds_one_partition_at_a_time(monkeypatch: pytest.MonkeyPatch):
    expected = event_metadata(ranged(one_by_one))
    monkeypatch.setattr(step_metadata, "ACCUMULATOR", "_an_attribute_dagster_does_not_have")
    assert event_metadata(ranged(at_once)) == expected


def test_metadata_for_a_partition_the_run_does_not_target_is_refused():
    def outside(context: dg.AssetExecutionContext) -> None:
        add_partition_metadata(context, {"2026-01-20": {"rows": 1}})

    result = dg.materialize(
        [ranged(outside)], tags=RANGE_TAGS, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert "the run does not target: ['2026-01-20']" in failure.step_failure_data.error.message
