"""The production topology as commands: a gRPC code server, the webserver and the daemon.

`spotify-assets serve`, the tests, `deploy/docker-compose.yaml` and the Helm values all use these commands
(the tests check the container files against them), so the tested topology and the shipped one cannot drift.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

DEFINITIONS_MODULE = "spotify_assets.definitions"
LOCATION_NAME = "spotify_assets"
WORKSPACE = "deploy/workspace.yaml"


@dataclass(frozen=True)
class Topology:
    """Where the three processes listen; `code_host` is how the webserver and daemon reach the code server."""

    code_bind_host: str = "127.0.0.1"
    code_host: str = "127.0.0.1"
    code_port: int = 4000
    web_host: str = "127.0.0.1"
    web_port: int = 3000
    workspace: str = WORKSPACE

    def env(self) -> dict[str, str]:
        """The variables deploy/workspace.yaml reads: the code server's address."""
        return {"DAGSTER_CODE_SERVER_HOST": self.code_host, "DAGSTER_CODE_SERVER_PORT": str(self.code_port)}

    def commands(self) -> dict[str, list[str]]:
        """Each process's command line, by role (as in the official deploy_docker example)."""
        return {
            "code-server": [
                "dagster", "code-server", "start", "-h", self.code_bind_host, "-p", str(self.code_port),
                "-m", DEFINITIONS_MODULE, "--location-name", LOCATION_NAME,
            ],
            "webserver": [
                "dagster-webserver", "-h", self.web_host, "-p", str(self.web_port), "-w", self.workspace,
            ],
            "daemon": ["dagster-daemon", "run", "-w", self.workspace],
        }  # fmt: skip

    def health_check_command(self) -> list[str]:
        """Exits 0 once the code server answers (it answers only after loading the definitions)."""
        return ["dagster", "api", "grpc-health-check", "-h", self.code_host, "-p", str(self.code_port)]


def local_command(command: list[str]) -> list[str]:
    """A command with its program taken from this Python's environment (the project's .venv)."""
    program = Path(sys.executable).parent / command[0]
    return [str(program) if program.exists() else command[0], *command[1:]]
