"""The PostgreSQL resource: an external server (e.g. RDS) when a host is set, else an embedded pgserver.

Embedded lifecycle: the server is started with pgserver's `cleanup_mode=None`, so it keeps running when the
process that started it exits. Every process that uses the same data folder (Dagster's step subprocesses,
`dagster dev`, a test session, psql) attaches to that one postmaster through its unix socket, and no process
can stop it while another is mid-transaction. (pgserver's default, `stop`, reference-counts processes in a
pid file and stops the server when the last one exits; a forked child never registers itself, and step
subprocesses would restart the server in turn.) pgserver's inter-process lock serializes initdb and start;
a stale `postmaster.pid` (after a reboot or a kill, or naming a killed postmaster that is a zombie because
its parent does not reap it) is replaced by a fresh start, and a server stopped or killed under a running
process is started again on its next connection. Stop the server explicitly
with `stop_embedded_server` (the test fixtures do). PostgreSQL's WAL makes an unstopped server crash-safe.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, cast

import dagster as dg
import fasteners
import psutil
from pydantic import Field

if TYPE_CHECKING:
    import pgserver
    import psycopg
    from pgserver.utils import PostmasterInfo

CONNECT_TIMEOUT_S = 10
APPLICATION_NAME = "spotify_assets"
EMBEDDED_USER = "postgres"

_lock = threading.Lock()
_servers: dict[Path, pgserver.PostgresServer] = {}
_databases: set[tuple[Path, str]] = set()


def _resolve(directory: str | Path) -> Path:
    return Path(directory).expanduser().resolve()


def _read_pid_file(path: Path) -> PostmasterInfo | None:
    from pgserver.utils import PostmasterInfo

    try:
        return PostmasterInfo.read_from_pgdata(path)
    except (AssertionError, ValueError):  # half written by a server that is starting right now
        return None


def _process(info: PostmasterInfo) -> psutil.Process | None:
    """The pid file's process, None when no process has that pid."""
    # pgserver sets `process = None` in __init__ and the process only later, so its inferred type is None.
    return cast("psutil.Process | None", info.process)


def _is_alive(info: PostmasterInfo | None) -> bool:
    """Whether the pid file's process exists and is not a zombie (killed, not yet reaped by its parent).

    A zombie keeps its pid until its parent reaps it, which a container whose PID 1 is no init never does:
    pgserver's own check (`psutil.Process.is_running`) takes it for a live server.
    """
    process = _process(info) if info is not None and info.is_running() else None
    if process is None:
        return False
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _is_running(path: Path) -> bool:
    """Whether the data folder's postmaster runs (read afresh: another process may have stopped it)."""
    info = _read_pid_file(path)
    return info is not None and _is_alive(info) and _is_postgres(info)


def _is_postgres(info: PostmasterInfo) -> bool:
    """Whether the pid file's process (if any) is a postmaster, not another program that reused its pid."""
    process = _process(info)
    return process is not None and process.name() == "postgres"


def _clear_stale_pid_file(path: Path) -> None:
    """Remove a postmaster.pid whose pid is a zombie or now belongs to another program (e.g. after a container
    restart), and the socket lock file of a zombie postmaster.

    pgserver would take that process for the server and never start one, and PostgreSQL refuses to start
    while a lock file names a pid that still exists (a zombie does). Call under pgserver's lock.
    """
    info = _read_pid_file(path)
    if info is None or not info.is_running():
        return
    if _is_alive(info) and _is_postgres(info):
        return
    if info.socket_dir is not None and info.port is not None:
        socket_lock = info.socket_dir / f".s.PGSQL.{info.port}.lock"
        if _lock_file_pid(socket_lock) == info.pid:
            socket_lock.unlink(missing_ok=True)
    (path / "postmaster.pid").unlink(missing_ok=True)


def _lock_file_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split("\n", 1)[0].strip())
    except (OSError, ValueError):
        return None


def embedded_server(directory: str | Path) -> pgserver.PostgresServer:
    """Start (or attach to) the embedded PostgreSQL of a data folder, once per process and folder."""
    import pgserver

    path = _resolve(directory)
    with _lock:
        server = _servers.get(path)
        if server is not None and _is_running(path):
            return server
        # pgserver's own mkdir (parent must exist, not exist_ok) races between processes; this one cannot.
        path.mkdir(parents=True, exist_ok=True)
        # pgserver starts servers under this inter-process lock; fcntl locks do not nest within a process,
        # so it is released before get_server takes it again.
        with fasteners.InterProcessLock(pgserver.PostgresServer.lock_path):
            _clear_stale_pid_file(path)
            if server is not None:  # stopped since this process attached: start it again
                server.ensure_postgres_running()
        if server is None:
            # The socket goes in the data folder, or under the user runtime dir when that path is longer than
            # a unix socket allows (~107 bytes): pgserver checks, so deep folders work too.
            server = pgserver.get_server(path, cleanup_mode=None)
            _servers[path] = server
        return server


def embedded_database_uri(directory: str | Path, dbname: str = "postgres") -> str:
    """A libpq connection string for a database of the embedded server (created if missing; trust auth)."""
    import psycopg  # a connection: see LAZY_IMPORTS
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    path = _resolve(directory)
    info = embedded_server(path).get_postmaster_info()
    host = str(info.socket_dir) if info.socket_dir is not None else info.hostname  # TCP on Windows
    conninfo = make_conninfo(host=host, port=info.port, dbname="postgres", user=EMBEDDED_USER)
    if dbname != "postgres" and (path, dbname) not in _databases:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            found = conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone()
            if not found:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
        _databases.add((path, dbname))
    return make_conninfo(conninfo, dbname=dbname)


def advisory_lock_key(name: str) -> int:
    """A stable signed 64-bit key for `PostgreSQL's advisory locks` (e.g. from a table's qualified name)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def stop_embedded_server(directory: str | Path) -> None:
    """Stop the embedded PostgreSQL of a data folder if it runs (fast shutdown: open sessions are ended)."""
    import pgserver

    from spotify_assets.storage.kept_connection import close_kept_connections  # see LAZY_IMPORTS

    path = _resolve(directory)
    close_kept_connections(lambda server: server[:2] == ("embedded", str(path)))  # type: ignore[index]
    with _lock:
        server = _servers.pop(path, None)
        _databases.difference_update({key for key in _databases if key[0] == path})
        if not (path / "postmaster.pid").exists():
            return
        with fasteners.InterProcessLock(pgserver.PostgresServer.lock_path):
            _clear_stale_pid_file(path)  # a zombie postmaster: nothing to stop (pg_ctl would wait for it)
        if not (path / "postmaster.pid").exists():
            return
        # As root, pgserver runs postgres as its own system user, and pg_ctl must run as that user too.
        running_as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        user = server.system_user if server else ("pgserver" if running_as_root else None)
        # pgserver builds its command wrappers (pg_ctl, initdb, ...) at import time, unseen by type checkers.
        pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=path, user=user)  # type: ignore[attr-defined]


class PostgresResource(dg.ConfigurableResource):
    """The warehouse database: an external PostgreSQL (e.g. RDS) when `host` is set, else an embedded one.

    With no `host`, a real PostgreSQL 16 (pgserver) is started from `embedded_dir` on first use (once per
    process). It keeps running after the process exits, so several processes can share the folder; stop it
    with `spotify_assets.storage.postgres.stop_embedded_server(embedded_dir)`.

    `connect()` yields a psycopg connection with autocommit off: the transaction commits when the block
    ends normally and rolls back when it raises. A process keeps one connection per server for all its
    blocks, tested each time a block takes it (`kept_connection`).

    Example:
        ```python
        import dagster as dg
        from spotify_assets.storage.postgres import PostgresResource

        local = PostgresResource()  # embedded, under ./data/postgres
        rds = PostgresResource(
            host=dg.EnvVar("DB_HOST"),
            dbname=dg.EnvVar("DB_NAME"),
            user=dg.EnvVar("DB_USER"),
            password=dg.EnvVar("DB_PASSWORD"),
            sslmode="verify-full",
        )
        with rds.connect() as conn:
            conn.execute("select 1")
        ```
    """

    host: str | None = Field(
        default=None, description="Server host name; unset means the embedded PostgreSQL in embedded_dir."
    )
    port: int = Field(default=5432, description="Server port (external server only).")
    dbname: str = Field(default="postgres", description="Database name (created if missing when embedded).")
    user: str = Field(default="postgres", description="User name (external server only).")
    password: str | None = Field(
        default=None, description="Password (external server only); use dg.EnvVar('DB_PASSWORD')."
    )
    sslmode: str | None = Field(
        default=None, description="libpq sslmode, e.g. 'require' or 'verify-full' for RDS; unset: libpq's."
    )
    embedded_dir: str = Field(
        default="./data/postgres", description="Data folder of the embedded PostgreSQL (used when no host)."
    )

    @property
    def is_embedded(self) -> bool:
        return not self.host

    def describe(self) -> str:
        """Where this resource connects, without credentials (for messages and metadata)."""
        if self.is_embedded:
            return f"embedded PostgreSQL in {_resolve(self.embedded_dir)}, database {self.dbname!r}"
        return f"{self.host}:{self.port}/{self.dbname}"

    def conninfo(self) -> str:
        """A libpq connection string; never log it: it may hold the password."""
        from psycopg.conninfo import make_conninfo  # a connection: see LAZY_IMPORTS

        if self.is_embedded:
            base = embedded_database_uri(self.embedded_dir, self.dbname)
            return make_conninfo(
                base,
                application_name=APPLICATION_NAME,
                client_encoding="UTF8",
                connect_timeout=CONNECT_TIMEOUT_S,
            )
        params = {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.user,
            "password": self.password,
            "sslmode": self.sslmode,
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": APPLICATION_NAME,
            "client_encoding": "UTF8",  # COPY sends UTF-8 bytes, whatever the database's own encoding
        }
        return make_conninfo("", **{key: value for key, value in params.items() if value is not None})

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        """The process's connection to this server (`kept_connection`): committed when the block succeeds,
        rolled back (and closed) when it raises."""
        from spotify_assets.storage.kept_connection import kept_connection  # a connection: see LAZY_IMPORTS

        with kept_connection(self._server_key(), self._new_connection) as conn:
            yield conn

    def _server_key(self) -> tuple[object, ...]:
        if self.is_embedded:
            return ("embedded", str(_resolve(self.embedded_dir)), self.dbname)
        return ("external", self.host, self.port, self.dbname, self.user, self.password, self.sslmode)

    def _new_connection(self) -> psycopg.Connection:
        import psycopg  # a connection: see LAZY_IMPORTS

        try:
            # Statements are not prepared: a plan kept across blocks would outlive a table rebuilt meanwhile.
            return psycopg.connect(self.conninfo(), autocommit=False, prepare_threshold=None)
        except psycopg.OperationalError as error:
            raise ConnectionError(f"cannot connect to PostgreSQL at {self.describe()}: {error}") from error
