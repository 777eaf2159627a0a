"""The file formats of Spotify's data exports: the kinds of file, the fields silver reads and their types,
and the compact form a file's rows are kept in (JSON texts, stop times) once read.

Neutral ground: `sources.history` reads export files into these shapes, `transforms` turn them into raw
partitions and silver plays, and `storage.lake` knows the raw payload's keys (`STORED_KINDS`), without any
of them importing another's layer. The kinds and their names are `export_kinds`' (re-exported here), which
loads without pandas and pyarrow.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from xxhash import xxh3_128_digest

from spotify_assets.contracts.export_kinds import (
    AUDIOBOOK,
    EXTENDED,
    KIND_CODES,
    MUSIC,
    PODCAST,
    REQUIRED,
    STOP_TIME_FIELD,
    STORED_KINDS,
    VIDEO,
    classify,
    row_json,
)

__all__ = [
    "AUDIOBOOK",
    "EXTENDED",
    "KIND_CODES",
    "MUSIC",
    "PODCAST",
    "REQUIRED",
    "SCHEMAS",
    "STOP_TIME_FIELD",
    "STORED_KINDS",
    "VIDEO",
    "ExportFile",
    "RowTexts",
    "classify",
    "row_json",
    "stop_millis",
    "typed_table",
]

_TEXT, _INT, _BOOL = pa.string(), pa.int64(), pa.bool_()
_EXTENDED_SCHEMA = pa.schema(
    [
        ("ts", _TEXT),
        ("ms_played", _INT),
        ("platform", _TEXT),
        ("conn_country", _TEXT),
        ("master_metadata_track_name", _TEXT),
        ("master_metadata_album_artist_name", _TEXT),
        ("master_metadata_album_album_name", _TEXT),
        ("spotify_track_uri", _TEXT),
        ("episode_name", _TEXT),
        ("episode_show_name", _TEXT),
        ("spotify_episode_uri", _TEXT),
        ("audiobook_title", _TEXT),
        ("audiobook_uri", _TEXT),
        ("audiobook_chapter_uri", _TEXT),
        ("audiobook_chapter_title", _TEXT),
        ("reason_start", _TEXT),
        ("reason_end", _TEXT),
        ("shuffle", _BOOL),
        ("skipped", _BOOL),
    ]
)
# The fields silver reads, with their types; other fields stay in raw untouched (and are never read).
SCHEMAS: dict[str, pa.Schema] = {
    EXTENDED: _EXTENDED_SCHEMA,
    VIDEO: _EXTENDED_SCHEMA,
    MUSIC: pa.schema([("endTime", _TEXT), ("artistName", _TEXT), ("trackName", _TEXT), ("msPlayed", _INT)]),
    PODCAST: pa.schema(
        [("endTime", _TEXT), ("podcastName", _TEXT), ("episodeName", _TEXT), ("msPlayed", _INT)]
    ),
    AUDIOBOOK: pa.schema(
        [("endTime", _TEXT), ("audiobookName", _TEXT), ("chapterName", _TEXT), ("msPlayed", _INT)]
    ),
}
_ACCOUNT_TIME_FORMAT = "%Y-%m-%d %H:%M"


def stop_millis(kind: str, values: Sequence[Any]) -> np.ndarray:
    """Stop times (`ts` or `endTime` strings, UTC) as epoch milliseconds; -1 where a value does not parse."""
    strings = pd.Series(values, dtype="string")
    if kind in (EXTENDED, VIDEO):
        parsed = pd.to_datetime(strings, utc=True, format="ISO8601", errors="coerce")
    else:
        parsed = pd.to_datetime(strings, utc=True, format=_ACCOUNT_TIME_FORMAT, errors="coerce")
    millis = parsed.astype("datetime64[ms, UTC]").array.asi8.copy()
    millis[parsed.isna().to_numpy()] = -1
    return millis


def typed_table(kind: str, rows: list[Any]) -> pa.Table:
    """The fields silver reads, typed (missing fields null); raises ValueError naming the first bad row."""
    schema = SCHEMAS[kind]
    try:  # as a struct array: converted in Arrow's C++ (from_pylist builds each column in Python first)
        return pa.Table.from_struct_array(pa.array(rows, type=pa.struct(schema)))
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, AttributeError):
        for index, row in enumerate(rows):  # slow path, only to name the row
            if not isinstance(row, dict):
                raise ValueError(f"row {index}: expected an object, found {type(row).__name__}") from None
            for column in schema:
                value = row.get(column.name)
                try:
                    pa.array([value], type=column.type)
                except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
                    raise ValueError(
                        f"row {index}: {column.name!r} must be {_type_name(column.type)}, not {value!r}"
                    ) from None
        raise


def _type_name(arrow_type: pa.DataType) -> str:
    return {_TEXT: "a string", _INT: "an integer", _BOOL: "true or false"}.get(arrow_type, str(arrow_type))


class RowTexts:
    """The JSON texts of a file's rows, kept zstd-compressed in one block (JSON compresses about 10x) with
    each row's byte offsets, and a 128-bit XXH3 digest per row that identifies it without its text (rows of
    one import are told apart by it; an accidental collision of two rows is about 2**-128 per pair)."""

    def __init__(self, texts: Sequence[bytes]) -> None:
        self.offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum([len(row) for row in texts], out=self.offsets[1:])
        self.digests = np.frombuffer(b"".join(map(xxh3_128_digest, texts)), dtype=np.uint64).reshape(-1, 2)
        data = b"".join(texts)
        self._size = len(data)
        self._block = pa.compress(data, codec="zstd", asbytes=True) if data else b""

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def expand(self) -> bytes:
        """Every row's UTF-8 bytes, back to back (`offsets` delimit them)."""
        return pa.decompress(self._block, self._size, codec="zstd", asbytes=True) if self._size else b""

    def take(self, positions: Sequence[int] | np.ndarray, data: bytes | None = None) -> list[bytes]:
        """The UTF-8 texts of rows `positions` (`data`: this block expanded already)."""
        data = self.expand() if data is None else data
        starts, ends = self.offsets[:-1], self.offsets[1:]
        return [data[starts[i] : ends[i]] for i in np.asarray(positions, dtype=np.int64).tolist()]


@dataclass(frozen=True)
class ExportFile:
    """One export file read and checked: its rows as JSON texts and stop times (epoch ms, UTC)."""

    path: Path
    kind: str
    texts: RowTexts  # one compact JSON object per row, in file order (none for video)
    stop_ms: np.ndarray  # int64

    @property
    def rows(self) -> int:
        return len(self.stop_ms)
