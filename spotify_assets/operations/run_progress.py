"""A Dagster logger that prints one line per asset as its step completes, dbt style, and errors in full.

`spotify-assets demo`, `rebuild` and the listener purge run `dagster asset materialize` with run config that
turns this logger on (`PROGRESS_LOGGER`) next to the console logger: the console logger's DEBUG events go to a
log file, and these lines to the terminal:

    3 of 11 OK silver/plays ............................. [357 rows, 7 partitions in 1.2s]
"""

# No `from __future__ import annotations`: Dagster reads the logger's annotations at runtime.

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import dagster as dg

PROGRESS_LOGGER = "progress"
ERROR_MARK = "ERROR "
"""Every line of an error this logger prints starts with it: the caller knows the error was shown."""
LINE_WIDTH = 56
ROW_KEYS = ("range/rows_written", "rows_written")
"""What a table's step wrote, on one of its events; else its partitions' `dagster/partition_row_count`."""


@dataclass
class StepProgress:
    """What the events of one step said: its assets' materializations and their check results."""

    assets: dict[str, set[str]] = field(default_factory=dict)  # asset key -> partitions
    rows: dict[str, int] = field(default_factory=dict)  # asset key -> rows written or partition rows
    rows_written: dict[str, int] = field(default_factory=dict)  # asset key -> rows written, if said


def _number(value: Any) -> int | None:
    raw = getattr(value, "value", value)
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None


class ProgressPrinter:
    """Turns a run's Dagster events into progress lines on `out`."""

    def __init__(self, total_assets: int, out: TextIO) -> None:
        self.total, self.out, self.done = total_assets, out, 0
        self.steps: dict[str, StepProgress] = {}
        self.checks = {"passed": 0, "failed": 0}
        self.errors_shown: set[str] = set()

    def write(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def handle(self, event: Any) -> None:
        """Record or print what `event` (a `DagsterEvent`) says."""
        kind = event.event_type
        if kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            self._materialized(event)
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            self._checked(event.event_specific_data)
        elif kind == dg.DagsterEventType.STEP_SUCCESS:
            self._step_done(event.step_key, event.event_specific_data.duration_ms / 1000)
        elif kind in (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE):
            self._failed(event)
        elif kind == dg.DagsterEventType.RUN_SUCCESS:
            self.write(self.finished())

    def _materialized(self, event: Any) -> None:
        materialization = event.event_specific_data.materialization
        step = self.steps.setdefault(event.step_key, StepProgress())
        key = materialization.asset_key.to_user_string()
        step.assets.setdefault(key, set()).add(materialization.partition or "")
        metadata = materialization.metadata
        for name in ROW_KEYS:
            if (written := _number(metadata.get(name))) is not None:
                step.rows_written[key] = written
        if (rows := _number(metadata.get("dagster/partition_row_count"))) is not None:
            step.rows[key] = step.rows.get(key, 0) + rows

    def _checked(self, evaluation: Any) -> None:
        self.checks["passed" if evaluation.passed else "failed"] += 1
        if not evaluation.passed:
            severity = evaluation.severity.value
            name = f"{evaluation.asset_key.to_user_string()} {evaluation.check_name}"
            self.write(f"   {severity} check {name}: {evaluation.description}")

    def _step_done(self, step_key: str | None, seconds: float) -> None:
        step = self.steps.pop(step_key or "", None)
        for key, partitions in sorted(step.assets.items()) if step else ():
            self.done += 1
            rows = step.rows_written.get(key, step.rows.get(key)) if step else None
            count = len(partitions - {""})
            measured = [f"{rows:,} rows"] if rows is not None else []
            measured.append(f"{count} partition{'' if count == 1 else 's'}" if count else "unpartitioned")
            head = f"{self.done:>{len(str(self.total))}} of {self.total} OK {key} "
            self.write(f"{head.ljust(LINE_WIDTH, '.')} [{', '.join(measured)} in {seconds:.1f}s]")

    def _failed(self, event: Any) -> None:
        data = event.event_specific_data
        error = getattr(data, "error", None)
        where = f"step {event.step_key}" if event.step_key else "the run"
        text = error.to_string() if error is not None else event.message or "no error text"
        if text in self.errors_shown:  # the run's failure repeats its step's error
            return
        self.errors_shown.add(text)
        self.write(f"{ERROR_MARK}FAILED {where}:")
        for line in text.rstrip().splitlines():
            self.write(f"{ERROR_MARK}  {line}")

    def finished(self) -> str:
        """The closing line: assets materialized and checks passed."""
        checks = self.checks["passed"] + self.checks["failed"]
        return (
            f"Done: {self.done} of {self.total} assets materialized, "
            f"{self.checks['passed']} of {checks} checks passed."
        )


class ProgressHandler(logging.Handler):
    """A logging handler that feeds the `DagsterEvent` of each record to a `ProgressPrinter`."""

    def __init__(self, printer: ProgressPrinter) -> None:
        super().__init__(logging.DEBUG)
        self.printer = printer

    def emit(self, record: logging.LogRecord) -> None:
        meta: Mapping[str, Any] = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is None:
            return
        self.printer.handle(event)


@dg.logger(None, description="One line per asset as it completes, check failures, errors in full (stdout).")
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    """The progress logger of a run: counts the run's selected assets and prints to stdout."""
    job = init_context.job_def
    total = len(job.asset_layer.selected_asset_keys) if job is not None else 0
    # Dagster makes a logger for the run's start and end and another for its steps: one printer per run.
    printer = _PRINTERS.setdefault(init_context.run_id or "", ProgressPrinter(total, sys.stdout))
    logger = logging.Logger("spotify_assets.progress", level=logging.DEBUG)
    logger.addHandler(ProgressHandler(printer))
    return logger


_PRINTERS: dict[str, ProgressPrinter] = {}


def quiet_run_config() -> dict[str, Any]:
    """Run config: Dagster's console logger at DEBUG (to stderr, the log file) and the progress logger."""
    return {
        "loggers": {
            "console": {"config": {"log_level": "DEBUG"}},
            PROGRESS_LOGGER: {"config": {}},
        }
    }
