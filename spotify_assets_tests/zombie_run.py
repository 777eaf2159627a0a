"""Run as a script: a Dagster run whose first step kills the embedded postmaster (kill -9) while this process,
made a child subreaper, does not reap it, so it stays a zombie; the second step must still reach PostgreSQL.

Usage: `python -m spotify_assets_tests.zombie_run <embedded_dir>`; exits 0 when the second step succeeded.
This process stands in for a container's PID 1 without init: orphans are reparented to it and never reaped
while the run lasts. (Linux only: `prctl(PR_SET_CHILD_SUBREAPER)`.)
"""

import ctypes
import os
import signal
import sys
import time
from pathlib import Path

import dagster as dg
import psutil
from pgserver.utils import PostmasterInfo

from spotify_assets.storage.postgres import PostgresResource, stop_embedded_server

PR_SET_CHILD_SUBREAPER = 36


@dg.asset
def kills_the_postmaster(context: dg.AssetExecutionContext, postgres: PostgresResource) -> int:
    with postgres.connect() as conn:
        conn.execute("select 1")
    info = PostmasterInfo.read_from_pgdata(Path(postgres.embedded_dir).resolve())
    assert info is not None and info.process.ppid() == os.getpid(), "the postmaster is not our orphan"
    os.kill(info.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while info.process.status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the killed postmaster never became a zombie"
        time.sleep(0.05)
    context.log.info(f"postmaster {info.pid} killed, now a zombie")
    return info.pid


@dg.asset
def queries_after_the_kill(kills_the_postmaster: int, postgres: PostgresResource) -> int:
    assert psutil.Process(kills_the_postmaster).status() == psutil.STATUS_ZOMBIE  # still unreaped
    with postgres.connect() as conn:
        return conn.execute("select 41 + 1").fetchone()[0]


def main(embedded_dir: str) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    try:
        result = dg.materialize(
            [kills_the_postmaster, queries_after_the_kill],
            resources={"postgres": PostgresResource(embedded_dir=embedded_dir)},
            raise_on_error=False,
        )
        for event in result.all_events:
            if event.event_type_value == "STEP_FAILURE":
                print(event.step_key, event.event_specific_data.error.message, file=sys.stderr)
        value = result.output_for_node("queries_after_the_kill") if result.success else None
        return 0 if value == 42 else 1
    finally:
        stop_embedded_server(embedded_dir)
        _reap_children()


def _reap_children() -> None:
    """Reap what was reparented to this process (the zombie, the restarted server), as an init would."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
