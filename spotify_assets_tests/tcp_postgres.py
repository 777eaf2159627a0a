"""A PostgreSQL server on 127.0.0.1 from pgserver's own binaries: the production shape (DB_HOST)."""

from __future__ import annotations

from pathlib import Path

import pgserver


class TcpPostgres:
    """pgserver initializes the data folder (as its own system user when run as root); pg_ctl then restarts
    the server listening on TCP (trust authentication: any password is accepted)."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self._user = pgserver.get_server(directory, cleanup_mode=None).system_user
        self._pg_ctl(["-w", "-m", "fast", "stop"])
        options = f"-h 127.0.0.1 -p {port} -k {directory}"
        self._pg_ctl(["-w", "-o", options, "-l", str(directory / "tcp.log"), "start"])

    def _pg_ctl(self, args: list[str]) -> None:
        pgserver.pg_ctl(args, pgdata=self.directory, user=self._user, timeout=60)

    def stop(self) -> None:
        self._pg_ctl(["-w", "-m", "fast", "stop"])
