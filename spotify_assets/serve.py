"""`spotify-assets serve`: the production trio on one host without containers, supervised together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from spotify_assets.topology import Topology, local_command

STOP_TIMEOUT_S = 30


def _stop(processes: dict[str, subprocess.Popen]) -> None:
    """TERM every process still running (daemon first, code server last), then KILL what is left."""
    for process in reversed(processes.values()):
        if process.poll() is None:
            process.terminate()
    for process in reversed(processes.values()):
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve(topology: Topology, poll_seconds: float = 1.0) -> int:
    """Run code server, webserver and daemon until TERM/INT (exit 0) or until one of them exits (exit 1).

    One exiting stops the others, so a supervisor (systemd `Restart=on-failure`) restarts the three together.
    """
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    env = {**os.environ, **topology.env()}
    processes = {
        name: subprocess.Popen(local_command(command), env=env)
        for name, command in topology.commands().items()
    }
    exit_code = 0
    try:
        while not stop.wait(poll_seconds):
            exited = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
            if exited:
                print(f"spotify-assets serve: {exited} exited; stopping the others", file=sys.stderr)
                exit_code = 1
                break
    finally:
        _stop(processes)
    return exit_code
