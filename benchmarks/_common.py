"""What the benchmark scripts share: a throw-away stack, whole-graph runs in process, timing and printing.

Each script sets PARTITIONS_START_DATE before it imports this module or `spotify_assets` (the partitions
definition reads it at import), runs on its own temporary lake folder and embedded PostgreSQL data folder,
stops that server in a `finally`, prints a table and ends with `<name>: <ratio> (target <target>)`.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from spotify_assets.contracts.settings import Settings
from spotify_assets.definitions import build_definitions
from spotify_assets.sources.resource import SpotifyResource
from spotify_assets.storage.postgres import PostgresResource, stop_embedded_server

PLAYS_PER_DAY = 100
"""Sample plays a day in the whole-graph benchmarks (the sample's own default is 30-90)."""

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
"""Run config: Dagster's console logger at WARNING (its DEBUG events would flood the benchmark's output)."""


@dataclass(frozen=True)
class Stack:
    """A temporary lake folder and embedded PostgreSQL, and settings pointing at them."""

    root: Path
    settings: Settings
    postgres: PostgresResource


def stack_at(root: Path, **settings: Any) -> Stack:
    """The stack whose lake and embedded PostgreSQL live under `root` (nothing is started yet)."""
    start = date.fromisoformat(os.environ["PARTITIONS_START_DATE"])
    pg_dir = root / "postgres"
    return Stack(
        root=root,
        settings=Settings(
            lake_dir=str(root / "lake"),
            embedded_pg_dir=str(pg_dir),
            spotify_source="sample",
            partitions_start_date=start,
            **settings,
        ),
        postgres=PostgresResource(embedded_dir=str(pg_dir)),
    )


@contextmanager
def temporary_stack(name: str, **settings: Any) -> Iterator[Stack]:
    """A fresh stack in a temporary folder; on exit its embedded server is stopped and the folder removed."""
    stack = stack_at(Path(tempfile.mkdtemp(prefix=f"spotify_bench_{name}_")), **settings)
    try:
        yield stack
    finally:
        try:
            stop_embedded_server(stack.settings.embedded_pg_dir)
        finally:
            shutil.rmtree(stack.root, ignore_errors=True)


def instance(stack: Stack) -> dg.DagsterInstance:
    """A persistent (SQLite) Dagster instance in the stack's folder, as a deployment's DAGSTER_HOME."""
    home = stack.root / "dagster_home"
    home.mkdir(exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():  # default storage; no telemetry banner in the benchmark's output
        config.write_text("telemetry:\n  enabled: false\n")
    return dg.DagsterInstance.local_temp(tempdir=str(home))


def project_instance(stack: Stack) -> dg.DagsterInstance:
    """The project's default Dagster instance on the stack (schema `dagster` of its embedded PostgreSQL,
    from the generated dagster.yaml), as a deployment has it; the stack's server must be running."""
    from spotify_assets.contracts.settings import Settings, get_settings
    from spotify_assets.operations.instance_config import write_instance_yaml

    home = stack.root / "dagster_home"
    # The storage finds its server through the settings, here and in any child process.
    os.environ["EMBEDDED_PG_DIR"] = stack.settings.embedded_pg_dir
    get_settings.cache_clear()
    write_instance_yaml(home, Settings.from_mapping(os.environ))
    return dg.DagsterInstance.from_config(str(home))


class EventStorageTimer:
    """Counts the events a Dagster instance stores and the seconds spent storing them (its bookkeeping)."""

    def __init__(self, run_instance: dg.DagsterInstance) -> None:
        self.events = 0
        self.seconds = 0.0
        store = run_instance.handle_new_event

        def timed_store(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return store(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.events += 1

        run_instance.handle_new_event = timed_store  # type: ignore[method-assign]


def graph(stack: Stack, plays_per_day: int | None = PLAYS_PER_DAY) -> tuple[list[Any], dict[str, Any]]:
    """The project's assets and checks, and its resources with the sample source at `plays_per_day`."""
    defs = build_definitions(stack.settings)
    resources = dict(defs.resources)
    resources["spotify"] = SpotifyResource(
        source="sample", timezone=stack.settings.partitions_timezone, sample_plays_per_day=plays_per_day
    )
    return [*defs.assets, *defs.asset_checks], resources


def run_graph(
    stack: Stack,
    first: date,
    last: date | None = None,
    *,
    selection: dg.AssetSelection | None = None,
    run_instance: dg.DagsterInstance | None = None,
    plays_per_day: int | None = PLAYS_PER_DAY,
) -> tuple[float, dg.ExecuteInProcessResult]:
    """One in-process run for a day, or for a range of days as one single run: its seconds and result.

    Raises unless the run and every asset check in it succeed.
    """
    definitions, resources = graph(stack, plays_per_day)
    last = last or first
    tags = {} if last == first else {RANGE_START: first.isoformat(), RANGE_END: last.isoformat()}
    started = time.perf_counter()
    result = dg.materialize(
        definitions,
        resources=resources,
        selection=selection,
        partition_key=first.isoformat() if last == first else None,
        tags=tags,
        run_config=QUIET,
        instance=run_instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=True,
    )
    seconds = time.perf_counter() - started
    if not result.success:
        raise RuntimeError(f"run {first}..{last} failed")
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    if failed:
        names = ", ".join(f"{e.asset_key.to_user_string()}:{e.check_name}" for e in failed)
        raise RuntimeError(f"run {first}..{last}: checks failed: {names}")
    return seconds, result


def materialize(stack: Stack, first: date, last: date | None = None, **options: Any) -> float:
    """`run_graph`'s seconds."""
    return run_graph(stack, first, last, **options)[0]


JOB_ENV = "SPOTIFY_BENCH_JOB"
"""JSON telling `benchmark_job` (in a child process) which stack, selection and sample size to build."""


def benchmark_job() -> dg.JobDefinition:
    """The project's graph as a job on the stack that SPOTIFY_BENCH_JOB names (see `execute_job`)."""
    config = json.loads(os.environ[JOB_ENV])
    stack = stack_at(Path(config["root"]), **config["settings"])
    definitions, resources = graph(stack, config["plays_per_day"])
    groups = config["groups"]
    job = dg.define_asset_job(
        "benchmark", selection=dg.AssetSelection.groups(*groups) if groups else dg.AssetSelection.all()
    )
    defs = dg.Definitions(
        assets=[d for d in definitions if not isinstance(d, dg.AssetChecksDefinition)],
        asset_checks=[d for d in definitions if isinstance(d, dg.AssetChecksDefinition)],
        resources=resources,
        jobs=[job],
        executor=dg.in_process_executor,
    )
    return defs.resolve_job_def("benchmark")


def execute_job(
    stack: Stack,
    first: date,
    last: date,
    *,
    groups: Sequence[str] = (),
    plays_per_day: int | None = PLAYS_PER_DAY,
    run_instance: dg.DagsterInstance | None = None,
    **settings: Any,
) -> float:
    """One run of a range as a deployment runs it (`dagster asset materialize`, a launched run); seconds.

    Unlike `dg.materialize`, which keeps every step's output in memory for its result, a launched run
    hands outputs to the IO managers only: this is the run whose memory is worth measuring. The run
    records to `run_instance` (default: the stack's SQLite instance).
    """
    os.environ[JOB_ENV] = json.dumps(
        {
            "root": str(stack.root),
            "settings": settings,
            "plays_per_day": plays_per_day,
            "groups": list(groups),
        }
    )
    tags = {RANGE_START: first.isoformat(), RANGE_END: last.isoformat()}
    started = time.perf_counter()
    with dg.execute_job(
        dg.reconstructable(benchmark_job),
        run_instance or instance(stack),
        run_config=QUIET,
        tags=tags,
        raise_on_error=True,
    ) as result:
        if not result.success:
            raise RuntimeError(f"run {first}..{last} failed")
        failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
        if failed:
            raise RuntimeError(f"run {first}..{last}: {len(failed)} checks failed")
    return time.perf_counter() - started


def step_seconds(result: dg.ExecuteInProcessResult) -> dict[str, float]:
    """Each step's duration in a run, by step key (an asset's step key is its key joined by `__`)."""
    return {
        event.step_key: event.event_specific_data.duration_ms / 1000
        for event in result.all_events
        if event.event_type_value == "STEP_SUCCESS" and event.step_key
    }


def days(first: date, count: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(count)]


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def best_of(
    repeats: int, action: Callable[[], object], before: Callable[[], object] | None = None
) -> list[float]:
    """Times of `repeats` runs of `action` (each after an untimed `before`)."""
    times = []
    for _ in range(repeats):
        if before:
            before()
        times.append(timed(action))
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def seconds(value: float) -> str:
    return f"{value:,.2f} s" if value < 100 else f"{value:,.0f} s"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain-text table, first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))]
        return "  ".join(parts).rstrip()

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def machine_note() -> str:
    """Cores and load average, printed with every result (the figures depend on both)."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"machine: {os.cpu_count()} cores, load average {load}"


def result_line(name: str, ratio: float, target: str, unit: str = "x") -> str:
    """The last line of every script: `<name>: <ratio> (target <target>)`."""
    return f"{name}: {ratio:.2f}{unit} (target {target})"
