"""DayBatches: long partition ranges read and built a batch of days at a time."""

from __future__ import annotations

import pytest

from spotify_assets.contracts.day_batches import DayBatches, batches_of, chunks, per_day

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


def test_map_builds_lazily_batch_by_batch():
    load = CountingLoad()
    built: list[str] = []

    def build(payload: str) -> str:
        built.append(payload)
        return payload.upper()

    upper = DayBatches(DAYS, load, batch_days=5).map(build)
    assert load.calls == [] and built == []
    first = next(upper.batches())
    assert first == {key: f"PAYLOAD {key}" for key in DAYS[:5]}
    assert load.calls == [DAYS[:5]] and len(built) == 5


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


def test_batches_of_and_per_day_accept_plain_dicts():
    plain = {"2026-01-02": 2, "2026-01-01": 1}
    assert list(batches_of(plain)) == [plain]
    assert list(batches_of({})) == []
    assert per_day(plain, lambda value: value * 10) == {"2026-01-02": 20, "2026-01-01": 10}
    lazy = per_day(DayBatches(DAYS, CountingLoad(), batch_days=4), len)
    assert isinstance(lazy, DayBatches)
    assert [len(batch) for batch in batches_of(lazy)] == [4, 4, 2]
