"""A lock per (raw asset, month of partitions), held from the read of the stored objects to the end of their
write.

One lock covers a calendar month of an asset's daily partitions: a run of one day takes its month's lock, a
range takes each month's lock in turn and writes that month's days under it. Two runs of the same day
therefore never interleave their read-merge-write, and a decade's import takes 120 locks instead of 3,653
(a round trip each to take and to release); a capture that needs a day of a month being imported waits for
that month's writes only (milliseconds), not for the range.

With a `PostgresResource` it is a PostgreSQL session advisory lock, which every process of a deployment can
reach (run workers, `dagster dev`, the CLI); without one (a lake IO manager built on its own) it serializes
the writers of this process only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from spotify_assets.storage.postgres import PostgresResource, advisory_lock_key

_local_locks: dict[str, threading.Lock] = {}
_local_guard = threading.Lock()


class PartitionLock(Protocol):
    def __call__(
        self, asset_path: Sequence[str], partition_keys: Sequence[str]
    ) -> AbstractContextManager[None]: ...


def lock_span(partition_key: str) -> str:
    """What one lock covers: the partition key's month, `YYYY-MM` (keys are `YYYY-MM-DD`)."""
    return partition_key[:7]


def lock_name(asset_path: Sequence[str], partition_key: str) -> str:
    """The name of the lock covering a partition: `lake:<layer>/<table>:<YYYY-MM>`."""
    return f"lake:{'/'.join(asset_path)}:{lock_span(partition_key)}"


def lock_groups(partition_keys: Iterable[str]) -> list[list[str]]:
    """`partition_keys` grouped by the lock that covers them, in the order each lock is first needed."""
    groups: dict[str, list[str]] = {}
    for key in partition_keys:
        groups.setdefault(lock_span(key), []).append(key)
    return list(groups.values())


@contextmanager
def partition_locks(postgres: PostgresResource | None) -> Iterator[PartitionLock]:
    """Yields `hold(asset_path, partition_keys)`, a context manager holding the one lock that covers all of
    `partition_keys` (a group of `lock_groups`; keys of two months raise ValueError).

    One database connection serves every lock of the block; hold one group at a time (in any order: a writer
    never holds two locks, so two writers cannot deadlock).
    """
    if postgres is None:
        yield _hold_local
        return
    with postgres.connect() as conn:
        conn.autocommit = True  # session locks only: no transaction stays open while the lake is written

        @contextmanager
        def hold(asset_path: Sequence[str], partition_keys: Sequence[str]) -> Iterator[None]:
            key = advisory_lock_key(_one_lock(asset_path, partition_keys))
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

        yield hold


def _one_lock(asset_path: Sequence[str], partition_keys: Sequence[str]) -> str:
    names = {lock_name(asset_path, key) for key in partition_keys}
    if len(names) != 1:
        raise ValueError(
            f"{'/'.join(asset_path)}: partitions {list(partition_keys)} are not covered by one lock "
            f"(one month each: group them with lock_groups)"
        )
    return names.pop()


@contextmanager
def _hold_local(asset_path: Sequence[str], partition_keys: Sequence[str]) -> Iterator[None]:
    name = _one_lock(asset_path, partition_keys)
    with _local_guard:
        lock = _local_locks.setdefault(name, threading.Lock())
    with lock:
        yield
