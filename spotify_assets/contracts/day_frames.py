"""A batch of days' table rows held as one frame: what the lake reads, the builders make and the writers take.

Held as a frame per day, a batch would be split by the lake's read, concatenated again for gold's build, split
into days again, and concatenated and converted again for the lake and again for COPY; each split or
concatenation of a 35-column frame costs about a millisecond, paid for every day of every table of a long
range. `DayFrames` is a `{day: frame}` mapping that keeps the batch
as one frame in day order (`whole`) with each day's row count: a day's frame is sliced only when it is looked
up, the whole batch is taken as it is, and its Arrow table is made once (`arrow`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from spotify_assets.contracts.table_frames import conform, empty_frame, to_arrow
from spotify_assets.contracts.table_spec import TableSpec


class DayFrames(Mapping[str, pd.DataFrame]):
    """`{day: frame}` held as one frame: `whole` holds the days' rows one day after the other, in the order
    of `counts` (day -> its rows).

    Example:
        ```python
        batch = DayFrames.of({"2026-11-27": friday, "2026-11-28": saturday})
        batch.whole  # both days' rows, Friday's first
        batch["2026-11-28"]  # Saturday's rows, sliced when asked for
        ```
    """

    def __init__(self, whole: pd.DataFrame, counts: Mapping[str, int]) -> None:
        if sum(counts.values()) != len(whole):
            raise ValueError(f"{len(whole)} rows for days holding {sum(counts.values())}")
        self.whole = whole
        self.counts = dict(counts)
        sizes = np.array(list(self.counts.values()), dtype=np.int64)
        ends = np.cumsum(sizes)
        starts = ends - sizes
        self._bounds = dict(zip(self.counts, zip(starts.tolist(), ends.tolist(), strict=True), strict=True))
        self._arrow: tuple[TableSpec, pa.Table] | None = None

    @classmethod
    def of(cls, frames: Mapping[str, pd.DataFrame], spec: TableSpec | None = None) -> DayFrames:
        """`frames` in day order as one frame (conformed to `spec` when given); a `DayFrames` already in day
        order as it is."""
        if isinstance(frames, DayFrames) and list(frames) == sorted(frames):
            return frames
        days = sorted(frames)
        parts = [frames[day] for day in days if len(frames[day])]
        if parts:
            whole = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        else:
            first = next(iter(frames.values()), pd.DataFrame())
            whole = empty_frame(spec) if spec is not None else first.head(0)
        if spec is not None:
            whole = conform(whole, spec)
        return cls(whole, {day: len(frames[day]) for day in days})

    @classmethod
    def split(cls, rows: pd.DataFrame, row_days: np.ndarray, days: Sequence[str]) -> DayFrames:
        """`rows`, whose days (`row_days`, ISO strings, ascending) are among `days`, as each day's."""
        starts = np.searchsorted(row_days, days, "left")
        ends = np.searchsorted(row_days, days, "right")
        outside = len(rows) - int((ends - starts).sum())
        if outside:
            raise ValueError(f"{outside} rows belong to none of the days {days[0]}..{days[-1]}")
        return cls(rows, dict(zip(days, (ends - starts).tolist(), strict=True)))

    def __getitem__(self, day: str) -> pd.DataFrame:
        start, end = self._bounds[day]
        return self.whole.iloc[start:end].reset_index(drop=True)

    def __iter__(self) -> Iterator[str]:
        return iter(self.counts)

    def __len__(self) -> int:
        return len(self.counts)

    def row_days(self) -> np.ndarray:
        """Each row's day (ISO string), aligned with `whole`."""
        return np.repeat(np.array(list(self.counts), dtype=object), list(self.counts.values()))

    def arrow(self, spec: TableSpec) -> pa.Table:
        """`whole` as an Arrow table of the spec's schema, converted once."""
        if self._arrow is None or self._arrow[0] != spec:
            self._arrow = (spec, to_arrow(self.whole, spec))
        return self._arrow[1]

    def arrow_days(self, spec: TableSpec) -> Iterator[tuple[str, pa.Table]]:
        """Each day's rows of `arrow(spec)`: slices of the one table, no copy."""
        table = self.arrow(spec)
        for day, (start, end) in self._bounds.items():
            yield day, table.slice(start, end - start)


def whole_frame(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """All of `frames`' rows in one frame, in their order: a `DayFrames`'s own, else concatenated."""
    if isinstance(frames, DayFrames):
        return frames.whole
    return DayFrames.of(dict(frames)).whole if list(frames) != sorted(frames) else _concat(frames)


def _concat(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    parts = [frame for frame in frames.values() if len(frame)]
    if not parts:
        return next(iter(frames.values()), pd.DataFrame()).head(0)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
