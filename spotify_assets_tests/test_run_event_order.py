"""A run's status is stored before the event that announces it, so Dagster's run-retry daemon, which reads new
RUN_FAILURE events once and skips runs not yet FAILURE, never misses a run to retry."""

from __future__ import annotations

import time
import uuid

import dagster as dg
from dagster._core.events import (
    DagsterEvent,
    DagsterEventType,
    EngineEventData,
    JobFailureData,
    RunFailureReason,
)
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.tags import RUN_FAILURE_REASON_TAG

from spotify_assets.contracts.settings import Settings
from spotify_assets.storage.instance_storage import WarehouseInstanceStorage, instance_postgres_url

JOB = "medallion_daily"


def _storage(postgres_resource) -> WarehouseInstanceStorage:
    """The project's instance storage in a schema of its own on the session's PostgreSQL."""
    settings = Settings.from_mapping({"EMBEDDED_PG_DIR": postgres_resource.embedded_dir})
    return WarehouseInstanceStorage(instance_postgres_url(settings, f"dagster_{uuid.uuid4().hex[:8]}"))


def _run_event(run_id: str, event_type: DagsterEventType, data) -> EventLogEntry:
    event = DagsterEvent(event_type.value, job_name=JOB, event_specific_data=data)
    return EventLogEntry(None, "DEBUG", "", run_id, time.time(), dagster_event=event)


def _stored_run(storage: WarehouseInstanceStorage, run_id: str) -> dg.DagsterRun:
    (stored,) = storage.run_storage.get_runs(dg.RunsFilter(run_ids=[run_id]))
    return stored


def test_once_a_failure_event_is_stored_the_run_is_failed_with_its_reason(postgres_resource):
    storage = _storage(postgres_resource)
    run = dg.DagsterRun(job_name=JOB, run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTING)
    storage.run_storage.add_run(run)
    timeout = JobFailureData(error=None, failure_reason=RunFailureReason.START_TIMEOUT)

    # What DagsterInstance.handle_new_event does first; it stores the run's status only after this returns.
    storage.event_log_storage.store_event(_run_event(run.run_id, DagsterEventType.RUN_FAILURE, timeout))

    stored = _stored_run(storage, run.run_id)
    assert stored.status == dg.DagsterRunStatus.FAILURE
    assert stored.tags[RUN_FAILURE_REASON_TAG] == RunFailureReason.START_TIMEOUT.value
    (record,) = storage.event_log_storage.get_records_for_run(
        run.run_id, of_type=DagsterEventType.RUN_FAILURE
    ).records
    assert record.event_log_entry.dagster_event.event_specific_data == timeout


def test_other_events_leave_the_run_status_alone(postgres_resource):
    storage = _storage(postgres_resource)
    run = dg.DagsterRun(job_name=JOB, run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED)
    storage.run_storage.add_run(run)
    engine_event = _run_event(run.run_id, DagsterEventType.ENGINE_EVENT, EngineEventData())
    storage.event_log_storage.store_event(engine_event)
    assert _stored_run(storage, run.run_id).status == dg.DagsterRunStatus.STARTED
