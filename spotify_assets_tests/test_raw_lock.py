"""The raw partitions' locks cover a month each: a range writes each month's days under one lock, held from
the read of what is stored to the end of the month's writes, and a writer of a day of that month waits for it
(and only for it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from spotify_assets.assets.raw import RAW_FILENAME, RAW_RECENTLY_PLAYED
from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.storage.lake import LakeResource
from spotify_assets.storage.lake_io import write_asset_output
from spotify_assets.storage.postgres import PostgresResource, advisory_lock_key
from spotify_assets.storage.raw_lock import lock_groups, lock_name, partition_locks

PATH = list(RAW_RECENTLY_PLAYED.path)
JUNE = [(date(2025, 6, 1) + timedelta(days=n)).isoformat() for n in range(30)]
JULY = [(date(2025, 7, 1) + timedelta(days=n)).isoformat() for n in range(31)]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def waiting_for_lock(postgres: PostgresResource, day: str) -> bool:
    """Whether some session waits (not granted) for the lock covering `day`."""
    key = advisory_lock_key(lock_name(PATH, day)) & 0xFFFF_FFFF_FFFF_FFFF
    with postgres.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND classid::bigint = %s AND objid::bigint = %s",
            (key >> 32, key & 0xFFFF_FFFF),
        ).fetchone()
    return bool(row and row[0])


def stored_days(lake: LakeResource, days: list[str]) -> list[str]:
    return [day for day in days if lake.exists(lake.partition_path(PATH, day, RAW_FILENAME))]


def test_lock_groups_are_months_in_order_and_one_lock_covers_one_month():
    assert lock_groups([*JUNE[-2:], *JULY[:2]]) == [JUNE[-2:], JULY[:2]]
    assert (
        lock_name(PATH, "2025-06-30") == lock_name(PATH, "2025-06-01") == "lake:raw/recently_played:2025-06"
    )
    with (
        partition_locks(None) as hold,
        pytest.raises(ValueError, match="not covered by one lock"),
        hold(PATH, [JUNE[-1], JULY[0]]),
    ):
        pass


def test_a_month_held_keeps_a_writer_of_its_day_waiting_and_lets_another_month_through(clean_warehouse):
    with clean_warehouse.connect() as other:
        other.autocommit = True
        with partition_locks(clean_warehouse) as hold, hold(PATH, JUNE):

            def free(day: str) -> bool:
                key = advisory_lock_key(lock_name(PATH, day))
                taken = other.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                if taken and taken[0]:
                    other.execute("SELECT pg_advisory_unlock(%s)", (key,))
                return bool(taken and taken[0])

            assert not free("2025-06-15")  # another day of the held month
            assert free("2025-07-01")
        assert free("2025-06-15")  # released with the block


def test_a_range_write_holds_each_month_from_its_reads_to_its_writes(tmp_path: Path, clean_warehouse):
    lake = LakeResource(local_dir=str(tmp_path / "lake"))
    payloads = {day: {"items": []} for day in JUNE + JULY}
    july = advisory_lock_key(lock_name(PATH, JULY[0]))
    errors: list[BaseException] = []

    def write() -> None:
        try:
            write_asset_output(lake, PATH, DayBatches.of(payloads), clean_warehouse)
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread
            errors.append(error)

    writer = threading.Thread(target=write)
    with clean_warehouse.connect() as holder:
        holder.autocommit = True
        holder.execute("SELECT pg_advisory_lock(%s)", (july,))  # another run writing a day of July
        writer.start()
        try:
            wait_for(lambda: waiting_for_lock(clean_warehouse, JULY[0]), "the range to wait for July")
            assert stored_days(lake, JUNE) == JUNE  # June was written under its own lock
            assert stored_days(lake, JULY) == []  # no day of July read or written while its lock is held
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (july,))
            writer.join(timeout=60)
    assert errors == []
    assert stored_days(lake, JULY) == JULY
    assert lake.read_json_partition(PATH, RAW_FILENAME, JULY[-1]) == {"items": []}
