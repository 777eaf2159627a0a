"""Spotify's data exports: find the files in a folder, recognise their kind, read and validate them.

Spotify's privacy page (https://www.spotify.com/account/privacy/) sends two packages with listening history:

| package | files | kind (raw payload key) |
|---|---|---|
| Extended Streaming History | `Streaming_History_Audio_*.json`, older `endsong_*.json` | `extended_history` |
| | `Streaming_History_Video_*.json` | video: recognised, counted, skipped |
| Account data | `StreamingHistory_music_*.json`, older `StreamingHistory<N>.json` | `account_data_music` |
| | `StreamingHistory_podcast_*.json` | `account_data_podcast` |
| | `StreamingHistory_audiobook_*.json` | `account_data_audiobook` |

Every other file (Userdata.json, playlists, the PDF) is ignored. Each file is a JSON array of row objects.
A row's stop time is `ts` (ISO-8601, UTC; extended history) or `endTime` (`YYYY-MM-DD HH:MM`, UTC; account
data). A file is read once, checked whole (shape, required fields, field types), and kept as compact JSON
texts of its rows (the export's own rows, key order included), zstd-compressed, with their stop times: a
million rows take about 100 MB, where as Python dicts they would take gigabytes.
"""

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import Field

from spotify_assets.text import without_lone_surrogates

EXTENDED = "extended_history"
MUSIC = "account_data_music"
PODCAST = "account_data_podcast"
AUDIOBOOK = "account_data_audiobook"
VIDEO = "extended_history_video"
STORED_KINDS = (EXTENDED, MUSIC, PODCAST, AUDIOBOOK)  # raw payload keys, in this order
KIND_CODES = {kind: code for code, kind in enumerate(STORED_KINDS)}

_PATTERNS = (
    (re.compile(r"streaming_history_audio_.*\.json", re.IGNORECASE), EXTENDED),
    (re.compile(r"endsong(_\d+)?\.json", re.IGNORECASE), EXTENDED),
    (re.compile(r"streaming_history_video_.*\.json", re.IGNORECASE), VIDEO),
    (re.compile(r"streaminghistory_music_.*\.json", re.IGNORECASE), MUSIC),
    (re.compile(r"streaminghistory\d+\.json", re.IGNORECASE), MUSIC),
    (re.compile(r"streaminghistory_podcast_.*\.json", re.IGNORECASE), PODCAST),
    (re.compile(r"streaminghistory_audiobook_.*\.json", re.IGNORECASE), AUDIOBOOK),
)

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
REQUIRED: dict[str, tuple[str, ...]] = {
    EXTENDED: ("ts", "ms_played"),
    VIDEO: ("ts", "ms_played"),
    MUSIC: ("endTime", "msPlayed", "artistName", "trackName"),
    PODCAST: ("endTime", "msPlayed"),
    AUDIOBOOK: ("endTime", "msPlayed"),
}
STOP_TIME_FIELD = {kind: REQUIRED[kind][0] for kind in REQUIRED}
_ACCOUNT_TIME_FORMAT = "%Y-%m-%d %H:%M"
_ROW_JSON: dict[str, Any] = {"ensure_ascii": False, "separators": (",", ":"), "allow_nan": False}


class HistoryFileError(ValueError):
    """An export file that cannot be imported; the message names the file and the problem."""


def classify(path: Path | str) -> str | None:
    """The kind of an export file from its name, or None for files that hold no listening history."""
    name = Path(path).name
    return next((kind for pattern, kind in _PATTERNS if pattern.fullmatch(name)), None)


def row_json(row: Any) -> str:
    """A row as stored in raw: compact JSON, keys in their original order, non-ASCII kept as is."""
    return json.dumps(row, **_ROW_JSON)


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
    try:
        return pa.Table.from_pylist(rows, schema=schema)
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
    each row's byte offsets, and a 128-bit BLAKE2b digest per row that identifies it without its text."""

    def __init__(self, texts: Sequence[str]) -> None:
        encoded = [text.encode("utf-8") for text in texts]
        self.offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(row) for row in encoded], out=self.offsets[1:])
        digests = b"".join(hashlib.blake2b(row, digest_size=16).digest() for row in encoded)
        self.digests = np.frombuffer(digests, dtype=np.uint64).reshape(-1, 2)
        data = b"".join(encoded)
        self._size = len(data)
        self._block = pa.compress(data, codec="zstd", asbytes=True) if data else b""

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def expand(self) -> bytes:
        """Every row's UTF-8 bytes, back to back (`offsets` delimit them)."""
        return pa.decompress(self._block, self._size, codec="zstd", asbytes=True) if self._size else b""

    def take(self, positions: Sequence[int] | np.ndarray, data: bytes | None = None) -> list[str]:
        """The texts of rows `positions` (`data`: this block expanded already)."""
        data = self.expand() if data is None else data
        starts, ends = self.offsets[:-1], self.offsets[1:]
        return [
            data[starts[i] : ends[i]].decode("utf-8") for i in np.asarray(positions, dtype=np.int64).tolist()
        ]

    def to_list(self) -> list[str]:
        return self.take(np.arange(len(self)))


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


def read_export_file(path: Path, kind: str | None = None) -> ExportFile:
    """Read and check one export file; any problem raises HistoryFileError naming the file."""
    kind = kind or classify(path)
    if kind is None:
        raise HistoryFileError(f"{path}: not a Spotify streaming-history file name")
    try:
        return _read(path, kind)
    except HistoryFileError:
        raise
    except (OSError, ValueError) as error:
        raise HistoryFileError(f"{path}: {error}") from error


def _read(path: Path, kind: str) -> ExportFile:
    try:
        with path.open(encoding="utf-8-sig") as file:
            rows = json.load(file)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({error}); the file may be truncated") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 text ({error})") from None
    if not isinstance(rows, list):
        raise ValueError(f"expected a JSON array of rows, found a JSON {type(rows).__name__}")
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"row {index}: expected an object, found {type(row).__name__}")
    try:
        table = typed_table(kind, rows)
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the JSON) is stored as U+FFFD, as in raw
        rows = without_lone_surrogates(rows)
        table = typed_table(kind, rows)
    for name in REQUIRED[kind]:
        missing = table.column(name).is_null().to_numpy(zero_copy_only=False)
        if missing.any():
            index = int(np.flatnonzero(missing)[0])
            raise ValueError(f"row {index}: {name!r} is missing or null")
    time_field = STOP_TIME_FIELD[kind]
    stop_ms = stop_millis(kind, table.column(time_field).to_pylist())
    if (stop_ms < 0).any():
        index = int(np.flatnonzero(stop_ms < 0)[0])
        raise ValueError(f"row {index}: {time_field!r} is not a valid UTC time: {rows[index][time_field]!r}")
    if kind == VIDEO:  # counted, never stored
        return ExportFile(path, kind, RowTexts([]), stop_ms)
    try:
        texts = RowTexts([row_json(row) for row in rows])
    except ValueError as error:  # NaN or Infinity, which JSON does not allow
        raise ValueError(f"a row holds a value JSON does not allow ({error})") from None
    return ExportFile(path, kind, texts, stop_ms)


def find_export_files(folder: Path) -> tuple[list[tuple[Path, str]], list[Path]]:
    """(recognised files with their kind, ignored .json files), both sorted by path, searching subfolders."""
    if not folder.is_dir():
        raise HistoryFileError(f"{folder} is not a folder (HISTORY_DIR must name the export folder)")
    recognised, ignored = [], []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".json"):
        kind = classify(path)
        if kind is None:
            ignored.append(path)
        else:
            recognised.append((path, kind))
    return recognised, ignored


@dataclass
class ExportRead:
    """Every recognised file of an export folder, read and checked."""

    folder: Path | None
    files: list[ExportFile] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)

    def of_kind(self, *kinds: str) -> list[ExportFile]:
        return [f for f in self.files if f.kind in kinds]

    def rows_by_kind(self) -> dict[str, int]:
        """Rows read per kind (video included), zero for kinds with no file."""
        counts = dict.fromkeys((*STORED_KINDS, VIDEO), 0)
        for export_file in self.files:
            counts[export_file.kind] += export_file.rows
        return counts

    def files_by_kind(self) -> dict[str, int]:
        counts = dict.fromkeys((*STORED_KINDS, VIDEO), 0)
        for export_file in self.files:
            counts[export_file.kind] += 1
        return counts

    def stored_files(self) -> list[ExportFile]:
        """The files whose rows raw keeps (video excluded)."""
        return [f for f in self.files if f.kind != VIDEO]


def read_export_folder(folder: Path | str | None) -> ExportRead:
    """Read and check every recognised file under `folder` (none when `folder` is None).

    All files are checked before anything is returned, so one malformed file stops the import before any
    partition changes.
    """
    if folder is None:
        return ExportRead(folder=None)
    folder = Path(folder).expanduser()
    recognised, ignored = find_export_files(folder)
    return ExportRead(
        folder=folder, files=[read_export_file(path, kind) for path, kind in recognised], ignored=ignored
    )


def describe_files(paths: Iterable[Path], limit: int = 10) -> str:
    """Up to `limit` file names, comma separated, with a count of the rest."""
    names = [p.name for p in paths]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


class HistoryResource(dg.ConfigurableResource):
    """Where Spotify's data-export files are: HISTORY_DIR (unset: no history to import).

    Its rows are split into days in the partitions' time zone (the asset takes it from its partitions
    definition), so the resource has no time zone of its own.

    Example:
        HistoryResource(folder="~/Downloads/my_spotify_data")
    """

    folder: str | None = Field(
        default=None, description="Folder of export files (searched recursively); unset: nothing to import"
    )

    def read(self) -> ExportRead:
        """Read and check every export file once (raises HistoryFileError for a malformed one)."""
        return read_export_folder(self.folder)
