"""Run `dagster asset materialize` quietly: progress lines on the terminal, Dagster's event log in a file.

The run's progress logger (`run_progress`) prints a line per asset; Dagster's own DEBUG events, and the
warnings Dagster and its libraries print about themselves, go to the log file. A failure prints its error in
full: the run's error from the progress logger, or, when no run started (a definition that does not load, a
broken setting), the log without those warnings.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from spotify_assets.operations.instance_config import dagster_home
from spotify_assets.operations.run_progress import ERROR_MARK, quiet_run_config

QUIET_WARNINGS = re.compile(
    r"(SupersessionWarning|BetaWarning|PreviewWarning|RuntimeDirWarning|SetuptoolsDeprecationWarning|"
    r"ExperimentalWarning):"
)
"""Warnings that only concern Dagster's (and platformdirs', setuptools') own deprecations and betas."""


def hide_quiet_warnings() -> None:
    """Stop this process from printing `QUIET_WARNINGS` (others are printed as before)."""
    show = warnings.showwarning

    def shown(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
        if not QUIET_WARNINGS.search(f"{category.__name__}:"):
            show(message, category, *args, **kwargs)  # type: ignore[arg-type]

    warnings.showwarning = shown


def log_path(home: Path, name: str, now: datetime | None = None) -> Path:
    """`<DAGSTER_HOME>/logs/<name>-<timestamp>.log`, the folder created."""
    folder = home / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}-{(now or datetime.now()).strftime('%Y%m%d-%H%M%S-%f')}.log"


def quiet_command(command: Sequence[str]) -> list[str]:
    """`command` (a `dagster asset materialize ...`) with the run config of the quiet progress."""
    return [*command, "--config-json", json.dumps(quiet_run_config())]


def without_quiet_warnings(lines: Iterable[str]) -> list[str]:
    """`lines` without the `QUIET_WARNINGS` and the source line Python prints under each."""
    kept: list[str] = []
    skip_source = False
    for line in lines:
        if QUIET_WARNINGS.search(line):
            skip_source = True
            continue
        if skip_source and line.startswith("  "):
            skip_source = False
            continue
        skip_source = False
        kept.append(line)
    return kept


def run_quietly(command: Sequence[str], name: str) -> int:
    """Run `dagster ...` (`command` without the interpreter) with progress lines only, its log in
    `<DAGSTER_HOME>/logs/<name>-<timestamp>.log`; its exit code."""
    log = log_path(dagster_home(), name)
    shown_error = False
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", *quiet_command(command)],
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(ERROR_MARK):
                shown_error = True
                print(line.removeprefix(ERROR_MARK).rstrip("\n"), file=sys.stderr, flush=True)
            else:
                print(line, end="", flush=True)
        code = process.wait()
    if code != 0 and not shown_error:
        print("\n".join(without_quiet_warnings(log.read_text().splitlines())), file=sys.stderr)
    print(f"Dagster's event log: {log}", flush=True)
    return code
