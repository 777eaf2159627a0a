"""Export rows -> raw daily partitions: split by local day, merged with what each partition already holds.

A raw `streaming_history` partition is `{kind: [row, ...]}` for every kind in `STORED_KINDS` (empty lists
included), each row the export's own object, rows ordered by stop time and then by their JSON text, so the
same rows always give the same bytes. Rows are identified by their whole JSON text (on import, by a 128-bit
digest of it). Merging follows multiset semantics: a row is kept as many times as the most any single file
(or the stored partition) holds it, so importing the same export twice, or two exports that overlap
(Spotify's exports are cumulative), adds nothing twice, while a row Spotify repeated inside one file is kept
as Spotify wrote it (silver counts it once).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from spotify_assets.contracts.export_formats import (
    KIND_CODES,
    STOP_TIME_FIELD,
    STORED_KINDS,
    ExportFile,
    RowTexts,
    row_json,
    stop_millis,
)


class TextStore:
    """The row texts of every file of one import, addressed by global row position.

    Files stay compressed; a read expands one file at a time and keeps the last few expanded, so writing
    the days in order expands each file about once (Spotify's files are chronological).
    """

    def __init__(self, files: Sequence[RowTexts], cache_size: int = 3) -> None:
        self._files = list(files)
        self._starts = np.cumsum([0] + [len(f) for f in self._files])
        self._cache: dict[int, bytes] = {}
        self._cache_size = cache_size

    def take(self, positions: np.ndarray) -> list[bytes]:
        """UTF-8 texts at global `positions`, in that order."""
        if not len(positions):
            return []
        file_of = np.searchsorted(self._starts, positions, side="right") - 1
        out = np.empty(len(positions), dtype=object)
        for index in np.unique(file_of).tolist():
            here = np.flatnonzero(file_of == index)
            out[here] = self._files[index].take(positions[here] - self._starts[index], self._expanded(index))
        return out.tolist()

    def _expanded(self, index: int) -> bytes:
        data = self._cache.pop(index, None)
        if data is None:
            data = self._files[index].expand()
        self._cache[index] = data  # most recently used last
        while len(self._cache) > self._cache_size:
            del self._cache[next(iter(self._cache))]
        return data


class HistoryPartition:
    """One day's export rows as raw stores them (a `JsonDocument` for the lake), encoded only when written.

    Each kind's rows are either texts (`texts[kind]`, a list of UTF-8 bytes) or positions into a `TextStore`
    with their stop times (`positions[kind]`, `stop_ms[kind]`): days of one import share its compressed texts.
    Rows are ordered by stop time, then by text.
    """

    def __init__(
        self,
        texts: Mapping[str, list[bytes]] | None = None,
        store: TextStore | None = None,
        positions: Mapping[str, np.ndarray] | None = None,
        stop_ms: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self._texts = dict(texts or {})
        self._store = store
        self._positions = dict(positions or {})
        self._stop_ms = dict(stop_ms or {})

    def rows(self, kind: str) -> list[bytes]:
        """The kind's rows as UTF-8 JSON texts, in stored order."""
        if kind in self._texts:
            return list(self._texts[kind])
        positions = self._positions.get(kind)
        if positions is None or not len(positions) or self._store is None:
            return []
        texts = self._store.take(positions)
        return [text for _, text in sorted(zip(self._stop_ms[kind].tolist(), texts, strict=True))]

    def counts(self) -> dict[str, int]:
        """Rows per kind."""
        return {kind: self._count(kind) for kind in STORED_KINDS}

    def _count(self, kind: str) -> int:
        if kind in self._texts:
            return len(self._texts[kind])
        return len(self._positions.get(kind, ()))

    def __len__(self) -> int:
        return sum(self.counts().values())

    def to_json_bytes(self) -> bytes:
        """`{"extended_history":[...],...}`: what `json.dumps(payload, separators=(",", ":"))` would give."""
        body = b",".join(b'"%s":[%s]' % (kind.encode(), b",".join(self.rows(kind))) for kind in STORED_KINDS)
        return b"{" + body + b"}"


@dataclass(frozen=True)
class ImportedRows:
    """The stored kinds' rows of one import, deduplicated across files, with their run day (-1: outside)."""

    texts: TextStore
    kind: np.ndarray  # int8 KIND_CODES
    stop_ms: np.ndarray  # int64
    day: np.ndarray  # int64 index into the run's days, -1 outside the run
    position: np.ndarray  # int64 positions of the kept rows, sorted by (day, kind, stop_ms, digest)

    def __len__(self) -> int:
        return len(self.position)


def local_day_keys(stop_ms: np.ndarray, timezone: str) -> np.ndarray:
    """Each epoch-millisecond instant's calendar day (`YYYY-MM-DD`) in `timezone`, as an object array."""
    if not len(stop_ms):
        return np.array([], dtype=object)
    moments = pd.DatetimeIndex(pd.to_datetime(stop_ms, unit="ms", utc=True))
    days = moments.tz_convert(timezone).tz_localize(None).normalize()
    codes, uniques = pd.factorize(days)
    keys = np.array([day.strftime("%Y-%m-%d") for day in uniques], dtype=object)
    return keys[codes]


def day_indices(stop_ms: np.ndarray, timezone: str, days: Sequence[str]) -> np.ndarray:
    """Index into `days` of each instant's local day, -1 for instants on other days."""
    if not len(stop_ms):
        return np.array([], dtype=np.int64)
    return pd.Index(list(days)).get_indexer(local_day_keys(stop_ms, timezone)).astype(np.int64)


def import_rows(files: Sequence[ExportFile], timezone: str, days: Sequence[str]) -> ImportedRows:
    """The stored kinds' rows of `files`, split over `days`; a row in several files is kept once per copy
    that the file holding it most often has (so overlapping exports add nothing twice)."""
    files = [f for f in files if f.kind in KIND_CODES]
    empty = np.array([], dtype=np.int64)
    if not files:
        return ImportedRows(TextStore([]), empty.astype(np.int8), empty, empty, empty)
    kind = np.concatenate([np.full(f.rows, KIND_CODES[f.kind], dtype=np.int8) for f in files])
    file_code = np.concatenate([np.full(f.rows, code, dtype=np.int32) for code, f in enumerate(files)])
    stop_ms = np.concatenate([f.stop_ms for f in files]).astype(np.int64)
    digests = np.concatenate([f.texts.digests for f in files])
    # The k-th copy of a row inside its file; keeping one row per (row, k) keeps the per-file maximum.
    frame = pd.DataFrame({"file": file_code, "high": digests[:, 0], "low": digests[:, 1]})
    frame["copy"] = frame.groupby(["file", "high", "low"], sort=False).cumcount()
    kept = np.flatnonzero(~frame.duplicated(["high", "low", "copy"]).to_numpy())
    day = day_indices(stop_ms, timezone, days)
    order = np.lexsort((digests[kept, 1], digests[kept, 0], stop_ms[kept], kind[kept], day[kept]))
    return ImportedRows(TextStore([f.texts for f in files]), kind, stop_ms, day, kept[order])


def check_stored_payload(payload: Any, where: str) -> dict[str, list[Any]]:
    """A stored raw partition's rows by kind; raises ValueError naming `where` for a wrong shape."""
    if payload is None:
        return {kind: [] for kind in STORED_KINDS}
    if not isinstance(payload, dict) or set(payload) - set(STORED_KINDS):
        raise ValueError(f"{where}: expected an object with keys {list(STORED_KINDS)}")
    rows = {kind: payload.get(kind, []) for kind in STORED_KINDS}
    for kind, values in rows.items():
        if not isinstance(values, list) or not all(isinstance(row, dict) for row in values):
            raise ValueError(f"{where}: {kind!r} must be a list of row objects")
    return rows


@dataclass(frozen=True)
class PartitionPlan:
    """A run's raw partitions and what changed: rows per day, and rows new to what was stored."""

    payloads: dict[str, HistoryPartition]
    new_rows: dict[str, int]


def plan_partitions(imported: ImportedRows, days: Sequence[str], stored: Mapping[str, Any]) -> PartitionPlan:
    """Each day's partition: the imported rows of that day merged with the stored ones (multiset union).

    `stored[day]` is the partition's current payload (None when there is none). A day whose stored rows are
    all among the imported ones is written from the import as is (no copy of its texts).
    """
    positions = imported.position
    group = imported.day[positions] * len(STORED_KINDS) + imported.kind[positions]
    payloads: dict[str, HistoryPartition] = {}
    new_rows: dict[str, int] = {}
    for index, day in enumerate(days):
        order: dict[str, np.ndarray] = {}
        for kind, code in KIND_CODES.items():
            target = index * len(STORED_KINDS) + code
            start, stop = np.searchsorted(group, [target, target + 1])
            order[kind] = positions[start:stop]
        stop_ms = {kind: imported.stop_ms[rows] for kind, rows in order.items()}
        fresh = HistoryPartition(store=imported.texts, positions=order, stop_ms=stop_ms)
        stored_rows = check_stored_payload(stored.get(day), f"raw streaming_history partition {day}")
        payloads[day], new_rows[day] = _merge(fresh, stop_ms, stored_rows)
    return PartitionPlan(payloads, new_rows)


def _merge(
    fresh: HistoryPartition, stop_ms: Mapping[str, np.ndarray], stored: Mapping[str, list[Any]]
) -> tuple[HistoryPartition, int]:
    stored_count = sum(len(rows) for rows in stored.values())
    if not stored_count:
        return fresh, len(fresh)
    merged: dict[str, list[bytes]] = {}
    changed = False
    for kind in STORED_KINDS:
        new_texts = fresh.rows(kind)
        old_texts = [row_json(row) for row in stored[kind]]
        if not Counter(old_texts) - Counter(new_texts):
            merged[kind] = new_texts
            continue
        changed = True
        millis = dict(zip(new_texts, sorted(stop_ms[kind].tolist()), strict=True))
        old_ms = stop_millis(kind, [row.get(STOP_TIME_FIELD[kind]) for row in stored[kind]])
        millis.update(zip(old_texts, old_ms.tolist(), strict=True))
        texts = list((Counter(new_texts) | Counter(old_texts)).elements())
        merged[kind] = sorted(texts, key=lambda text: (millis[text], text))
    if not changed:
        return fresh, len(fresh) - stored_count
    partition = HistoryPartition(texts=merged)
    return partition, len(partition) - stored_count


def day_range(files: Sequence[ExportFile], timezone: str) -> tuple[str, str] | None:
    """First and last local day (`YYYY-MM-DD` in `timezone`) of the files' rows, None when they hold none."""
    lows = [int(f.stop_ms.min()) for f in files if f.rows]
    highs = [int(f.stop_ms.max()) for f in files if f.rows]
    if not lows:
        return None
    first, last = local_day_keys(np.array([min(lows), max(highs)], dtype=np.int64), timezone)
    return str(first), str(last)
