"""`spotify-assets serve`: the production trio on one host without containers, supervised together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from spotify_assets.operations.topology import Topology, local_command

STOP_TIMEOUT_S = 30
HEALTH_CHECK_TIMEOUT_S = 30
CODE_SERVER = "code-server"


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


def _answers(command: list[str], env: dict[str, str]) -> bool:
    """True if the health check command exits 0 (its output, a gRPC error while loading, is not shown)."""
    try:
        return (
            subprocess.run(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                timeout=HEALTH_CHECK_TIMEOUT_S, check=False,
            ).returncode
            == 0
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return False


def _wait_for_code_server(
    topology: Topology, code_server: subprocess.Popen, env: dict[str, str], stop: threading.Event
) -> bool:
    """Until the code server answers its health check (True), exits, or serve is stopped (False)."""
    command = local_command(topology.health_check_command())
    while not stop.is_set():
        if code_server.poll() is not None:
            exited = code_server.returncode
            print(f"spotify-assets serve: the code server exited with {exited}", file=sys.stderr)
            return False
        if _answers(command, env):
            return True
        stop.wait(1.0)
    return False


def serve(topology: Topology, poll_seconds: float = 1.0) -> int:
    """Run code server, webserver and daemon until TERM/INT (exit 0) or until one of them exits (exit 1).

    The webserver and the daemon start once the code server answers, so that neither finds it unreachable
    (the daemon would fail queued runs). One exiting stops the others, so a supervisor (systemd
    `Restart=on-failure`) restarts the three together.
    """
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    env = {**os.environ, **topology.env()}
    commands = topology.commands()
    processes = {CODE_SERVER: subprocess.Popen(local_command(commands.pop(CODE_SERVER)), env=env)}
    exit_code = 0
    try:
        if not _wait_for_code_server(topology, processes[CODE_SERVER], env, stop):
            return 0 if stop.is_set() else 1
        processes.update({name: subprocess.Popen(local_command(c), env=env) for name, c in commands.items()})
        while not stop.wait(poll_seconds):
            exited = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
            if exited:
                print(f"spotify-assets serve: {exited} exited; stopping the others", file=sys.stderr)
                exit_code = 1
                break
    finally:
        _stop(processes)
    return exit_code
