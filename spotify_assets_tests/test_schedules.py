"""The schedules' own run requests: which days a tick asks for, from what the instance recorded."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from spotify_assets.assets.schedules import FACT_ASSET_KEY
from spotify_assets.contracts.listener_scope import DEFAULT_LISTENER, LISTENER_PARTITIONS, LISTENER_TAG
from spotify_assets.contracts.settings import Settings
from spotify_assets.definitions import build_definitions
from spotify_assets.sources.resource import SpotifyResource
from spotify_assets_tests.helpers import schedule_requests

TICK = datetime(2026, 3, 10, 0, 30, tzinfo=UTC)  # the daily tick: yesterday is 2026-03-09


@pytest.fixture()
def instance(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as test_instance:
        yield test_instance


def daily_request(instance: dg.DagsterInstance) -> dg.RunRequest:
    defs = build_definitions(Settings(partitions_start_date=date(2015, 1, 1)))
    (request,) = schedule_requests(defs, "medallion_daily_schedule", instance, TICK)
    return request


def built(instance: dg.DagsterInstance, *days: str) -> None:
    for day in days:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=FACT_ASSET_KEY, partition=day))


def requested_days(request: dg.RunRequest) -> tuple[str, str]:
    if request.partition_key:
        return request.partition_key, request.partition_key
    tags = request.tags
    return tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]


def test_the_daily_run_is_yesterday_when_the_days_before_are_built(instance):
    built(instance, *[(date(2026, 3, 9) - timedelta(days=n)).isoformat() for n in range(1, 8)])
    assert requested_days(daily_request(instance)) == ("2026-03-09", "2026-03-09")


def test_the_daily_run_also_builds_a_recent_day_whose_gold_is_missing(instance):
    built(instance, "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-07", "2026-03-08")
    assert requested_days(daily_request(instance)) == ("2026-03-06", "2026-03-09")


def test_the_daily_run_reaches_back_a_week_at_most(instance):
    assert requested_days(daily_request(instance)) == ("2026-03-03", "2026-03-09")


def test_the_capture_schedule_asks_the_bound_spotify_resource(tmp_path, instance):
    """Whether the default listener is captured is the bound `spotify` resource's answer (its token file),
    not that of a resource the schedule would build from the settings."""
    settings = Settings(
        spotify_source="live",
        spotify_token_file=str(tmp_path / "missing.json"),
        partitions_start_date=date(2015, 1, 1),
    )
    defs = build_definitions(settings)
    instance.add_dynamic_partitions(LISTENER_PARTITIONS, ["alice"])
    token_file = tmp_path / "token.json"
    token_file.write_text("{}")
    rebound = dg.Definitions(
        assets=defs.assets,
        jobs=defs.jobs,
        schedules=defs.schedules,
        resources={**defs.resources, "spotify": SpotifyResource(source="live", token_file=str(token_file))},
    )

    def listeners(definitions: dg.Definitions) -> list[str]:
        requests = schedule_requests(definitions, "raw_capture_intraday_schedule", instance, TICK)
        return sorted(request.tags.get(LISTENER_TAG, DEFAULT_LISTENER) for request in requests)

    assert listeners(defs) == ["alice"]
    assert listeners(rebound) == sorted(["alice", DEFAULT_LISTENER])
