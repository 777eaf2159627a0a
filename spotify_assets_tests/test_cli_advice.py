"""What the command line advises a new user, run as they run it: `spotify-assets history-range` suggests a
PARTITIONS_START_DATE only when it would reach further back, and `make` takes the ports it is given."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

SPOTIFY_ASSETS = str(Path(sys.executable).parent / "spotify-assets")  # the console script
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def history_range(folder: Path, start: date | None, cwd: Path) -> list[str]:
    """`spotify-assets history-range folder` with PARTITIONS_START_DATE = `start` (None: unset)."""
    env = {**os.environ, "PARTITIONS_START_DATE": start.isoformat() if start else ""}
    result = subprocess.run(
        [SPOTIFY_ASSETS, "history-range", str(folder)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def first_day(lines: list[str]) -> date:
    """The export's first day, as the output states it."""
    (match,) = [m for line in lines if (m := re.match(r"First day (\d{4}-\d\d-\d\d),", line))]
    return date.fromisoformat(match.group(1))


@pytest.mark.slow
@pytest.mark.parametrize("days_after_first", [-400, -1, 0])
def test_history_range_keeps_a_start_date_that_already_reaches_back(
    fixtures_dir: Path, tmp_path: Path, days_after_first: int
) -> None:
    folder = fixtures_dir / "extended_history"
    first = first_day(history_range(folder, None, tmp_path))
    start = first + timedelta(days=days_after_first)
    lines = history_range(folder, start, tmp_path)
    assert not [line for line in lines if "PARTITIONS_START_DATE=" in line], lines
    (advice,) = [line for line in lines if "PARTITIONS_START_DATE" in line]
    assert start.isoformat() in advice and "no change" in advice, advice
    assert f"--partition-range {first}..." in lines[-1]  # the import's range still starts on the first day


@pytest.mark.slow
def test_history_range_suggests_reaching_back_to_the_exports_first_day(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    folder = fixtures_dir / "extended_history"
    first = first_day(history_range(folder, None, tmp_path))
    start = first + timedelta(days=1)
    lines = history_range(folder, start, tmp_path)
    assert f"  PARTITIONS_START_DATE={first}" in lines, lines
    assert any(start.isoformat() in line for line in lines), "the output names the current start too"


def documented_blocks() -> dict[str, list[list[str]]]:
    """The bash blocks of the README and of every page under docs/, each as its lines, by file."""
    files = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
    return {
        str(path.relative_to(PROJECT_ROOT)): [
            block.splitlines()
            for block in re.findall(r"```bash\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)
        ]
        for path in files
    }


def test_every_documented_tagged_capture_registers_its_listener_first() -> None:
    tagged_blocks = [
        (name, block)
        for name, blocks in documented_blocks().items()
        for block in blocks
        if any('"spotify_assets/listener": "alice"' in line for line in block)
    ]
    assert tagged_blocks, "the docs show how to capture one listener"
    for name, block in tagged_blocks:
        tagged = next(i for i, line in enumerate(block) if '"spotify_assets/listener": "alice"' in line)
        registers = [i for i, line in enumerate(block) if "spotify-assets auth --listener alice" in line]
        assert registers and registers[0] < tagged, f"{name}: a fresh install knows no alice: register her"


MAKE_VARIABLES = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}


def make_commands(*argv: str, environment: dict[str, str] | None = None) -> list[str]:
    """The commands `make -n argv...` would run in the project root (nothing is run)."""
    # A user's shell, not the `make test` this may run under (a sub-make prints "Entering directory" lines).
    shell = {key: value for key, value in os.environ.items() if key not in MAKE_VARIABLES}
    env = {**shell, **(environment or {})}
    result = subprocess.run(
        ["make", "-n", *argv], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("dev",), "dagster dev -h 127.0.0.1 -p 3000"),
        (("dev", "PORT=3123"), "dagster dev -h 127.0.0.1 -p 3123"),
        (("serve",), "spotify-assets serve --port 3000 --code-port 4000"),
        (("serve", "PORT=3123", "CODE_PORT=4123"), "spotify-assets serve --port 3123 --code-port 4123"),
        (("serve", "CODE_PORT=4123"), "spotify-assets serve --port 3000 --code-port 4123"),
    ],
)
def test_make_dev_and_serve_take_their_ports_from_the_command_line(argv, expected) -> None:
    assert make_commands(*argv)[-1].endswith(expected)
    assert make_commands(*argv, environment={"PORT": "9"})[-1].endswith(expected), "not the environment's"
