"""The run queue of the generated dagster.yaml as Dagster's own queue daemon applies it to a household's
capture runs: which queued runs it would launch next."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.storage.dagster_run import DagsterRun, make_new_run_id
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from spotify_assets.assets.raw import RAW_RECENTLY_PLAYED, checked_through_key
from spotify_assets.contracts.listener_scope import DEFAULT_LISTENER, LISTENER_PARTITIONS, LISTENER_TAG
from spotify_assets.contracts.settings import Settings
from spotify_assets.definitions import build_definitions
from spotify_assets.operations.instance_config import write_instance_yaml
from spotify_assets_tests.helpers import lake_digest, make_settings, schedule_requests

TODAY = date(2026, 3, 10)
TICK = datetime(2026, 3, 10, 10, 15, tzinfo=UTC)
ORIGIN = RemoteJobOrigin(
    RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("spotify_assets"), "__repository__"), "raw_capture"
)


@pytest.fixture()
def queue(tmp_path) -> Iterator[dg.DagsterInstance]:
    """An instance with the generated dagster.yaml (SQLite, and room for every run: only tags limit)."""
    write_instance_yaml(
        tmp_path, Settings.from_mapping({"DAGSTER_STORAGE": "sqlite", "MAX_CONCURRENT_RUNS": "9"})
    )
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        yield instance


def capture_tick(instance: dg.DagsterInstance, listeners: list[str]) -> list[dg.RunRequest]:
    """The capture schedule's requests at TICK, every listener (the sample's default one too) captured 15
    minutes before, so that each asks for today only."""
    instance.add_dynamic_partitions(LISTENER_PARTITIONS, listeners)
    before = dg.MetadataValue.timestamp(TICK - timedelta(minutes=15))
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            RAW_RECENTLY_PLAYED,
            partition=TODAY.isoformat(),
            metadata={checked_through_key(name): before for name in [DEFAULT_LISTENER, *listeners]},
        )
    )
    defs = build_definitions(Settings(partitions_start_date=date(2015, 1, 1)))
    return schedule_requests(defs, "raw_capture_intraday_schedule", instance, TICK)


def by_listener(requests: list[dg.RunRequest]) -> dict[str, dg.RunRequest]:
    return {request.tags[LISTENER_TAG]: request for request in requests}


def add_run(instance: dg.DagsterInstance, request: dg.RunRequest, status: dg.DagsterRunStatus) -> str:
    """The run Dagster makes of `request` (its partition key becomes the tag dagster/partition)."""
    tags = dict(request.tags)
    if request.partition_key:
        tags["dagster/partition"] = request.partition_key
    run = DagsterRun(
        job_name="raw_capture", run_id=make_new_run_id(), status=status, tags=tags, remote_job_origin=ORIGIN
    )
    instance.add_run(run)
    return run.run_id


def next_launched(instance: dg.DagsterInstance) -> list[str]:
    """The queued runs the queue daemon would launch now (its own selection: limits, tags, pools)."""
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    runs = daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), fixed_iteration_time=None)
    return sorted(run.run_id for run in runs)


def test_a_listener_waiting_out_a_rate_limit_holds_back_only_their_own_next_capture(queue):
    requests = by_listener(capture_tick(queue, ["alice", "bob", "carol"]))
    alice = add_run(queue, requests["alice"], dg.DagsterRunStatus.STARTED)  # waits out a 429 (up to 60 s)
    bob = add_run(queue, requests["bob"], dg.DagsterRunStatus.QUEUED)
    carol = add_run(queue, requests["carol"], dg.DagsterRunStatus.QUEUED)
    alice_again = add_run(queue, requests["alice"], dg.DagsterRunStatus.QUEUED)  # the next tick's
    # Before captures of today went as ranges, nothing launched: all four runs had dagster/partition=today.
    assert next_launched(queue) == sorted([bob, carol])
    queue.delete_run(alice)  # her run is over
    assert next_launched(queue) == sorted([alice_again, bob, carol])


def test_a_household_capture_of_today_is_a_one_day_range_and_captures_that_day(
    tmp_path, clean_warehouse, queue
):
    requests = by_listener(capture_tick(queue, ["alice", "bob"]))
    for listener, request in requests.items():
        assert request.partition_key is None, listener
        assert request.tags["dagster/asset_partition_range_start"] == TODAY.isoformat()
        assert request.tags["dagster/asset_partition_range_end"] == TODAY.isoformat()
    defs = build_definitions(make_settings(tmp_path, clean_warehouse))
    result = defs.resolve_job_def("raw_capture").execute_in_process(instance=queue, tags=requests["bob"].tags)
    assert result.success
    (materialization,) = result.asset_materializations_for_node("raw__recently_played")
    assert materialization.partition == TODAY.isoformat()
    assert set(lake_digest(tmp_path / "lake")) == {
        f"raw/recently_played/listener=bob/extraction_date={TODAY}/recently_played.json"
    }


def test_one_run_a_day_still_holds_for_a_single_listener_and_one_day_runs(queue):
    (request,) = capture_tick(queue, [])
    assert request.partition_key == TODAY.isoformat() and LISTENER_TAG not in request.tags
    add_run(queue, request, dg.DagsterRunStatus.STARTED)
    add_run(queue, request, dg.DagsterRunStatus.QUEUED)  # the next tick's, or a UI run of today
    yesterday = add_run(
        queue,
        dg.RunRequest(partition_key=(TODAY - timedelta(days=1)).isoformat()),
        dg.DagsterRunStatus.QUEUED,
    )
    assert next_launched(queue) == [yesterday]
