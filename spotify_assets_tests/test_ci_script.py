"""`.ci/run` as CI runs it, with a stand-in `make` on PATH: it installs first, runs lint and the docs beside
the tests, prints their output, and fails when any of the three fails (pytest's exit 5 included)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CI_SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "run"
STAND_IN_MAKE = """#!/bin/bash
echo "$*" >> "$CALLS"
case "$1" in
    lint) echo "lint output"; exit "${LINT_RC:-0}";;
    docs) echo "docs output"; exit "${DOCS_RC:-0}";;
    test) exit "${TEST_RC:-0}";;
esac
"""


def _run_ci(tmp_path: Path, **exit_codes: int) -> tuple[int, str, list[str]]:
    (tmp_path / ".ci").mkdir()
    shutil.copy(CI_SCRIPT, tmp_path / ".ci" / "run")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "make").write_text(STAND_IN_MAKE)
    (bin_dir / "make").chmod(0o755)
    calls = tmp_path / "calls"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls)}
    env.update({name: str(code) for name, code in exit_codes.items()})
    done = subprocess.run(
        ["bash", str(tmp_path / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60
    )
    return done.returncode, done.stdout, calls.read_text().splitlines()


def test_ci_installs_first_then_passes_when_lint_docs_and_tests_pass(tmp_path):
    code, out, calls = _run_ci(tmp_path)
    assert code == 0
    assert calls[0] == "install-dev browser"
    assert sorted(calls[1:]) == ["docs", "lint", "test"]
    assert "== make lint: passed" in out and "lint output" in out and "docs output" in out


@pytest.mark.parametrize(
    ("failing", "expected"), [("LINT_RC", 1), ("DOCS_RC", 1), ("TEST_RC", 2), ("TEST_RC", 5)]
)
def test_ci_fails_when_any_of_the_three_fails(tmp_path, failing, expected):
    code, out, _ = _run_ci(tmp_path, **{failing: expected})
    assert code == expected
    if failing != "TEST_RC":
        assert f"== make {failing[:4].lower()}: FAILED" in out
