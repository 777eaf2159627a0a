"""DayBatches: long partition ranges read and built a batch of days at a time."""

from __future__ import annotations

import pandas as pd
import pytest

from spotify_assets.contracts.day_batches import DayBatches, chunks

DAYS = [f"2026-01-{day:02d}" for day in range(1, 11)]


class CountingLoad:
    """A load function that records each batch it was asked for."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, keys: list[str]) -> dict[str, str]:
        self.calls.append(keys)
        return {key: f"payload {key}" for key in keys}


def test_chunks_are_consecutive_groups_of_the_size():
    assert chunks(DAYS, 4) == [DAYS[0:4], DAYS[4:8], DAYS[8:10]]
    assert chunks([], 4) == []
    with pytest.raises(ValueError, match="at least 1"):
        chunks(DAYS, 0)


def test_reading_keys_in_order_loads_each_batch_once():
    load = CountingLoad()
    payloads = DayBatches(list(reversed(DAYS)), load, batch_days=4)
    assert list(payloads) == DAYS  # kept sorted
    assert len(payloads) == 10
    assert load.calls == []  # nothing read before a lookup
    assert {key: payloads[key] for key in payloads} == {key: f"payload {key}" for key in DAYS}
    assert load.calls == [DAYS[0:4], DAYS[4:8], DAYS[8:10]]
    with pytest.raises(KeyError):
        payloads["2026-02-01"]
    assert payloads.get("2026-02-01") is None


def test_batches_hand_out_every_key_once_in_order():
    load = CountingLoad()
    payloads = DayBatches(DAYS, load, batch_days=3)
    assert payloads["2026-01-01"] == "payload 2026-01-01"  # the first batch is held ...
    batches = list(payloads.batches())
    assert [list(batch) for batch in batches] == [DAYS[0:3], DAYS[3:6], DAYS[6:9], DAYS[9:10]]
    assert load.calls == chunks(DAYS, 3)  # ... and handed out without loading it again


def test_a_load_that_returns_other_keys_raises():
    payloads = DayBatches(DAYS, lambda keys: {key: 1 for key in keys[:-1]}, batch_days=4)
    with pytest.raises(ValueError, match="returned partitions"):
        list(payloads.batches())


def test_metadata_is_what_the_loads_reported():
    seen: list[int] = []

    def load(keys: list[str]) -> dict[str, int]:
        seen.append(len(keys))
        return dict.fromkeys(keys, 0)

    payloads = DayBatches(DAYS, load, batch_days=4, metadata=lambda: {"days": sum(seen)})
    for _ in payloads.batches():
        pass
    assert payloads.metadata() == {"days": 10}
    assert DayBatches(DAYS, load).metadata() == {}


def test_payloads_in_memory_are_one_batch():
    plain = {"2026-01-02": 2, "2026-01-01": 1}
    payloads = DayBatches.of(plain)
    assert list(payloads) == ["2026-01-01", "2026-01-02"]
    assert list(payloads.batches()) == [{"2026-01-01": 1, "2026-01-02": 2}]
    assert payloads["2026-01-02"] == 2
    assert list(DayBatches.of({}).batches()) == []


def test_select_reads_through_the_given_function_else_takes_the_columns_of_each_frame():
    frames = {key: pd.DataFrame({"a": [key], "b": [1], "c": [True]}) for key in DAYS}
    plain = DayBatches(DAYS, lambda keys: {key: frames[key] for key in keys}, batch_days=4)
    picked = plain.select(["c", "a"])
    assert list(picked) == DAYS
    for key in DAYS:
        pd.testing.assert_frame_equal(picked[key], frames[key][["c", "a"]])

    load = CountingLoad()
    asked: list[list[str]] = []

    def select(columns: list[str]) -> DayBatches:
        asked.append(list(columns))
        return DayBatches(DAYS, lambda keys: {key: f"{columns} of {key}" for key in keys})

    reader = DayBatches(DAYS, load, batch_days=4, select=select)
    assert reader.select(["b", "a"])[DAYS[0]] == f"{['b', 'a']} of {DAYS[0]}"
    assert asked == [["b", "a"]]
    assert load.calls == []  # the selection read nothing through the input's own load


def test_kept_batches_serve_later_passes_from_memory_up_to_the_budget():
    load = CountingLoad()
    source = DayBatches(DAYS, load, batch_days=4)
    kept = source.kept(budget_bytes=5, size_of=len)  # a batch's size: its days (4, 4, then 2)
    for _ in range(3):  # three passes, as three gold tables read silver
        assert {key: kept[key] for key in kept} == {key: f"payload {key}" for key in DAYS}
    # The first batch is kept (4 <= 5), then neither the second (4) nor the third (2) fits in what is left:
    # later passes read only those two again.
    first, second, third = DAYS[0:4], DAYS[4:8], DAYS[8:10]
    assert load.calls == [first, second, third, second, third, second, third]


def test_a_selection_of_kept_frames_takes_its_columns_from_them_in_the_frame_s_order():
    from spotify_assets.contracts.table_frames import DayFrames

    frames = {key: pd.DataFrame({"a": [key, key], "b": [1, 2], "c": [True, False]}) for key in DAYS}
    load = CountingLoad()

    def read(keys: list[str]) -> DayFrames:
        load(keys)
        return DayFrames.of({key: frames[key] for key in keys})

    kept = DayBatches(DAYS, read, batch_days=4).kept(budget_bytes=2**20, size_of=lambda b: b.memory_bytes())
    for columns in (["c", "a"], ["b"]):
        picked = kept.select(columns)
        for key in DAYS:
            expected = frames[key][[name for name in ["a", "b", "c"] if name in columns]]
            pd.testing.assert_frame_equal(picked[key], expected)
        assert isinstance(picked.batch(DAYS[0:4]), DayFrames)  # a batch's frame is taken whole
    assert load.calls == [DAYS[0:4], DAYS[4:8], DAYS[8:10]]  # each batch read once for both selections
    with pytest.raises(KeyError, match=r"no columns \['d'\]"):
        kept.select(["d"])[DAYS[0]]
