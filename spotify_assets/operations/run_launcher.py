"""Run monitoring for run workers on this host: a run whose worker process is gone is failed by the daemon."""

from __future__ import annotations

import psutil
from dagster import DagsterEventType
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun

# A pid seen this long after the run started belongs to another, newer process (the worker's was reused).
PID_REUSE_MARGIN_S = 2.0


class LocalRunLauncher(DefaultRunLauncher):
    """Dagster's default launcher (a process per run, started by the code server) with a health check.

    The code server fails a run whose worker dies while it lives; when the code server dies too (kill -9,
    a crash, a restart), nothing would: the run would stay STARTED and hold the queue's pool. The daemon's run
    monitoring asks this launcher, and it looks for the worker's process (its pid is on the run's RUN_START
    event). Only valid where the daemon sees the workers' processes: one host (`make dev`, `make serve`),
    not containers (the image sets RUN_WORKERS_ON_THIS_HOST=false).
    """

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        records = self._instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.RUN_START, limit=1
        ).records
        event = records[0].event_log_entry if records else None
        pid = event.dagster_event.pid if event and event.dagster_event else None
        if event is None or pid is None:  # not started yet: the start timeout covers a run that never does
            return CheckRunHealthResult(WorkerStatus.RUNNING, "the run worker has not reported yet")
        try:
            process = psutil.Process(pid)
            alive = (
                process.status() != psutil.STATUS_ZOMBIE
                and process.create_time() <= event.timestamp + PID_REUSE_MARGIN_S
            )
        except psutil.NoSuchProcess:
            alive = False
        if alive:
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker pid {pid} is running")
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker pid {pid} is gone")
