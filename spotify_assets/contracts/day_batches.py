"""Long partition ranges a batch of days at a time, so a single-run backfill's memory does not grow with it.

A run over a year hands each asset 365 partitions. Holding them all (a million exported plays, read, built
and written) takes gigabytes; holding one month at a time takes what a month takes. `DayBatches` is the one
`{partition key: payload}` mapping that crosses the IO managers, both ways: every partitioned output is one
(`DayBatches.of(payloads)` for payloads already in memory) and every input arrives as one. Its payloads are
read or computed one batch of consecutive days at a time, and only the latest batch is kept; the IO managers
write an output batch by batch (`batches()`), so an asset's code stays a per-day function.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any

BATCH_DAYS = 31
"""Days per batch: a month of daily partitions (about 3,000 plays for a heavy listener's year of exports)."""


def chunks(keys: Sequence[str], size: int) -> list[list[str]]:
    """`keys` in consecutive groups of `size` (the last one shorter)."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, not {size}")
    return [list(keys[start : start + size]) for start in range(0, len(keys), size)]


class DayBatches(Mapping[str, Any]):
    """Partition key -> payload, loaded a batch of days at a time by `load(keys) -> {key: payload}`.

    Keys are kept sorted (`batch_days` defaults to `BATCH_DAYS`); a lookup loads the key's batch unless it
    is the one held (so reading the keys in order loads each batch once), and `batches()` hands every batch
    out once, in order, holding nothing after it. `metadata()` is what the loads reported, read after every
    batch was loaded (for example counts that `load` adds up as it goes); it is empty unless a `metadata`
    function was given. `select(columns)` is the same days with only some columns of their frames: read as
    such when a `select` function was given (a lake table input reads only those columns of its objects).

    Example:
        ```python
        plays = DayBatches(days, lambda keys: lake.read_table_partitions(path, keys, PLAYS))
        for batch in plays.batches():  # one month of frames at a time, read as asked for
            write(batch)
        ```
    """

    def __init__(
        self,
        keys: Sequence[str],
        load: Callable[[list[str]], Mapping[str, Any]],
        *,
        batch_days: int | None = None,
        metadata: Callable[[], dict[str, Any]] | None = None,
        select: Callable[[Collection[str]], DayBatches] | None = None,
    ) -> None:
        self._keys = sorted(keys)
        self._select = select
        self._load = load
        self._batch_days = batch_days or BATCH_DAYS  # read at call time, so a test can make batches small
        self._groups = chunks(self._keys, self._batch_days)
        self._group_of = {key: index for index, group in enumerate(self._groups) for key in group}
        self._metadata = metadata
        self._held: tuple[int, Mapping[str, Any]] | None = None

    def __getitem__(self, key: str) -> Any:
        index = self._group_of[key]  # KeyError for a key outside the range, as a dict
        if self._held is None or self._held[0] != index:
            self._held = None  # let the previous batch go before loading the next
            self._held = (index, self._load_group(index))
        return self._held[1][key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        span = f"{self._keys[0]}..{self._keys[-1]}" if self._keys else "no keys"
        return f"DayBatches({span}, {len(self._keys)} partitions in batches of {self._batch_days} days)"

    @classmethod
    def of(cls, payloads: Mapping[str, Any]) -> DayBatches:
        """Payloads already in memory (a day's, or a short range's) as one batch."""
        return cls(
            list(payloads), lambda keys: {key: payloads[key] for key in keys}, batch_days=len(payloads)
        )

    def batches(self) -> Iterator[Mapping[str, Any]]:
        """Each batch as `{key: payload}` (the mapping its load returned), in key order, loaded as it is asked
        for and not kept."""
        for index in range(len(self._groups)):
            held, self._held = self._held, None
            group = held[1] if held is not None and held[0] == index else self._load_group(index)
            del held
            yield group

    def batch(self, keys: Sequence[str]) -> Mapping[str, Any]:
        """`{key: payload}` of `keys`: the mapping its load returned when `keys` are exactly one batch (a
        `DayFrames`, say, whose frame is taken whole), else looked up one by one."""
        index = self._group_of[keys[0]] if keys else None
        if index is None or self._groups[index] != sorted(keys):
            return {key: self[key] for key in keys}
        if self._held is None or self._held[0] != index:
            self._held = None
            self._held = (index, self._load_group(index))
        return self._held[1]

    def select(self, columns: Collection[str]) -> DayBatches:
        """The same days, each payload (a frame) with only `columns`: read as such by the `select` function
        given, else taken from each payload as it is looked up."""
        if self._select is not None:
            return self._select(columns)
        names = list(columns)
        return DayBatches(
            self._keys,
            lambda keys: {key: self[key][names] for key in keys},
            batch_days=self._batch_days,
        )

    def kept(self, budget_bytes: int, size_of: Callable[[Mapping[str, Any]], int]) -> DayBatches:
        """The same days for several passes over them: each batch is kept after its first load while the
        batches kept add up to at most `budget_bytes` (`size_of` a batch), and later passes get it from
        memory. The first batches that fit are kept, not the latest: passes go in day order, and a pass
        would find the latest ones gone by the time it reaches them. Its `select` takes columns from the
        batches kept."""
        kept: dict[int, Mapping[str, Any]] = {}
        room = [budget_bytes]

        def load(keys: list[str]) -> Mapping[str, Any]:
            index = self._group_of[keys[0]]
            batch = kept.get(index)
            if batch is None:
                batch = self.batch(keys)
                size = size_of(batch)
                if size <= room[0]:
                    kept[index], room[0] = batch, room[0] - size
            return batch

        def select(columns: Collection[str]) -> DayBatches:
            names = list(columns)
            return DayBatches(
                self._keys, lambda keys: _columns_of(load(keys), names), batch_days=self._batch_days
            )

        return DayBatches(self._keys, load, batch_days=self._batch_days, select=select)

    def metadata(self) -> dict[str, Any]:
        """What the loads reported; call it after every batch was loaded."""
        return self._metadata() if self._metadata else {}

    def _load_group(self, index: int) -> Mapping[str, Any]:
        group = self._groups[index]
        loaded = self._load(group)
        if set(loaded) != set(group):
            raise ValueError(f"a batch load returned partitions {sorted(loaded)} for {group}")
        return loaded


def _columns_of(batch: Mapping[str, Any], names: list[str]) -> Mapping[str, Any]:
    """A batch's frames with only `names`: the batch's own `select_columns` when it has one (a `DayFrames`
    selects from its one frame), else each frame's."""
    select_columns = getattr(batch, "select_columns", None)
    if select_columns is not None:
        return select_columns(names)
    return {key: frame[names] for key, frame in batch.items()}
