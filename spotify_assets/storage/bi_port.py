"""A TCP port for BI tools in front of the embedded PostgreSQL, which listens on a unix socket only.

Power BI, Tableau and Metabase connect over TCP; pgserver starts PostgreSQL without any TCP listener. This
bridge accepts connections on 127.0.0.1 (never another interface) and pipes each one, byte for byte, to the
server's socket, so the tool speaks the PostgreSQL protocol to the real server: authentication, TLS refusal,
queries and cancellation all behave as with a direct connection. It is what `spotify-assets bi-port` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

LOOPBACK = "127.0.0.1"
CHUNK_BYTES = 65_536


def socket_file(socket_dir: str | Path, port: int) -> Path:
    """The unix socket a PostgreSQL server creates: `<dir>/.s.PGSQL.<port>`."""
    return Path(socket_dir) / f".s.PGSQL.{port}"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK_BYTES):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _bridge(socket_path: Path) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_unix_connection(str(socket_path))
        except OSError:
            client_writer.close()  # the server is not running: the client sees the connection refused
            return
        await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))

    return handle


async def serve(
    socket_path: Path,
    port: int,
    ready: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Accept TCP connections on 127.0.0.1:`port` (0: any free port) and bridge each to `socket_path`.

    `ready(port)` is called once listening; runs until `stop` is set (or forever).
    """
    server = await asyncio.start_server(_bridge(socket_path), host=LOOPBACK, port=port)
    async with server:
        bound = server.sockets[0].getsockname()[1]
        if ready is not None:
            ready(bound)
        await (stop.wait() if stop is not None else asyncio.Event().wait())


async def serve_until_signalled(
    socket_path: Path, port: int, ready: Callable[[int], None] | None = None
) -> None:
    """`serve` until SIGINT or SIGTERM (Ctrl-C, a service manager's stop), then close the port: also when the
    process was started with SIGINT ignored, as a shell starts a background job."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows' event loops take no signal handlers
            loop.add_signal_handler(signum, stop.set)
    await serve(socket_path, port, ready, stop)
