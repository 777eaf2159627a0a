"""One warehouse connection per process and server, reused by every `PostgresResource.connect()` block.

A new connection costs a server process of its own (about 7 ms on the embedded server, a TLS handshake more
on RDS) and a cold catalogue cache, and a one-day run of the graph opens a dozen blocks. The kept connection
is tested (an empty query) each time a block takes it, so one the server ended (a restart, an idle timeout,
`stop_embedded_server`) is replaced before the block sees it. A block that raises closes it, so nothing of a
failed block (an aborted transaction, a session lock) reaches the next one; the next block connects afresh.
A block that starts while the kept connection is taken (nested, or in another thread) gets a connection of
its own, closed when it ends. A forked child never uses its parent's connection (they are kept per pid).
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

import psycopg

_lock = threading.Lock()
_kept: dict[tuple[int, Hashable], psycopg.Connection] = {}
_taken: set[tuple[int, Hashable]] = set()


@contextmanager
def kept_connection(
    server: Hashable, connect: Callable[[], psycopg.Connection]
) -> Iterator[psycopg.Connection]:
    """The process's connection to `server` (`connect()` makes one when there is none or it is gone).

    As `with psycopg.connect(...)`: committed when the block succeeds, rolled back when it raises (and then
    closed); the block may switch autocommit on, it is switched off again for the next block.
    """
    key = (os.getpid(), server)
    with _lock:
        free = key not in _taken
        conn = _kept.pop(key, None) if free else None
        if free:
            _taken.add(key)
    if not free:
        with connect() as own:
            yield own
        return
    try:
        if conn is not None and not _answers(conn):
            conn.close()
            conn = None
        if conn is None:
            conn = connect()
        try:
            yield conn
            conn.commit()
            conn.autocommit = False
        except BaseException:
            conn.close()
            conn = None
            raise
    finally:
        with _lock:
            _taken.discard(key)
            if conn is not None:
                _kept[key] = conn


def _answers(conn: psycopg.Connection) -> bool:
    """Whether the server still answers on `conn` (one round trip, no transaction left open)."""
    if conn.closed or conn.broken:
        return False
    conn.autocommit = True
    try:
        conn.execute("")
    except psycopg.OperationalError:
        return False
    conn.autocommit = False
    return True


def close_kept_connections(server: Callable[[Hashable], bool] = lambda _: True) -> None:
    """Close this process's kept connections to the servers `server` selects (all of them at exit)."""
    with _lock:
        mine = [key for key in _kept if key[0] == os.getpid() and server(key[1])]
        connections = [_kept.pop(key) for key in mine]
    for conn in connections:
        conn.close()


atexit.register(close_kept_connections)
