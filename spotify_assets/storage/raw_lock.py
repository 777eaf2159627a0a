"""A lock per (raw asset, partition), held from the read of the stored object to the end of its write.

With a `PostgresResource` it is a PostgreSQL session advisory lock, which every process of a deployment can
reach (run workers, `dagster dev`, the CLI); without one (a lake IO manager built on its own) it serializes
the writers of this process only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from spotify_assets.storage.postgres import PostgresResource, advisory_lock_key

_local_locks: dict[str, threading.Lock] = {}
_local_guard = threading.Lock()


class PartitionLock(Protocol):
    def __call__(self, asset_path: Sequence[str], partition_key: str) -> AbstractContextManager[None]: ...


def lock_name(asset_path: Sequence[str], partition_key: str) -> str:
    """The lock's name: `lake:<layer>/<table>:<partition key>`."""
    return f"lake:{'/'.join(asset_path)}:{partition_key}"


@contextmanager
def partition_locks(postgres: PostgresResource | None) -> Iterator[PartitionLock]:
    """Yields `hold(asset_path, partition_key)`, a context manager holding that partition's lock.

    One database connection serves every lock of the block; hold partitions one at a time (in any order:
    a writer never holds two, so two writers cannot deadlock).
    """
    if postgres is None:
        yield _hold_local
        return
    with postgres.connect() as conn:
        conn.autocommit = True  # session locks only: no transaction stays open while the lake is written

        @contextmanager
        def hold(asset_path: Sequence[str], partition_key: str) -> Iterator[None]:
            key = advisory_lock_key(lock_name(asset_path, partition_key))
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

        yield hold


@contextmanager
def _hold_local(asset_path: Sequence[str], partition_key: str) -> Iterator[None]:
    name = lock_name(asset_path, partition_key)
    with _local_guard:
        lock = _local_locks.setdefault(name, threading.Lock())
    with lock:
        yield
