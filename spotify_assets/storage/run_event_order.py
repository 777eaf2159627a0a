"""Dagster's event log on PostgreSQL, storing a run's new status before the event that announces it.

Dagster stores a run's RUN_FAILURE event first and the run's FAILURE status after it. Its run-retry daemon
reads new RUN_FAILURE events once and skips a run whose status is not FAILURE yet: a run failed by run
monitoring (a start timeout after a restart) could be left without its retry. With the status stored first,
every reader that sees a run's status event also sees the status.
"""

from __future__ import annotations

from dagster._core.events import EVENT_TYPE_TO_PIPELINE_RUN_STATUS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.runs.base import RunStorage
from dagster._time import datetime_from_timestamp
from dagster_postgres import PostgresEventLogStorage


class StatusFirstEventLogStorage(PostgresEventLogStorage):
    """dagster-postgres's event log whose run-status events are stored after the run's status."""

    def __init__(self, postgres_url: str, run_storage: RunStorage) -> None:
        super().__init__(postgres_url)
        self._run_storage = run_storage

    def store_event(self, event: EventLogEntry) -> None:
        dagster_event = event.dagster_event
        if dagster_event is not None and dagster_event.event_type in EVENT_TYPE_TO_PIPELINE_RUN_STATUS:
            # Idempotent: the instance stores the same status again once the event is stored.
            stored_at = datetime_from_timestamp(event.timestamp)
            self._run_storage.handle_run_event(event.run_id, dagster_event, stored_at)
        super().store_event(event)
