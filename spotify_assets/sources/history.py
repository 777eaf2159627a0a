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

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spotify_assets.contracts import json_codec
from spotify_assets.contracts.export_formats import (
    REQUIRED,
    STOP_TIME_FIELD,
    STORED_KINDS,
    VIDEO,
    ExportFile,
    RowTexts,
    classify,
    row_json,
    stop_millis,
    typed_table,
)
from spotify_assets.contracts.listener_scope import LISTENER_FOLDER
from spotify_assets.contracts.text import without_lone_surrogates

UTF8_BOM = b"\xef\xbb\xbf"  # Windows tools write one; "utf-8-sig" reads past it


class HistoryFileError(ValueError):
    """An export file that cannot be imported; the message names the file and the problem."""


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
    data = path.read_bytes()
    try:
        rows, plain = json_codec.parse(data.removeprefix(UTF8_BOM))
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
        texts = RowTexts(json_codec.dumps_plain(rows) if plain else [row_json(row) for row in rows])
    except ValueError as error:  # NaN or Infinity, which JSON does not allow
        raise ValueError(f"a row holds a value JSON does not allow ({error})") from None
    return ExportFile(path, kind, texts, stop_ms)


def _is_listener_folder(folder: Path, path: Path) -> bool:
    return path.relative_to(folder).parts[0].startswith(LISTENER_FOLDER)


def find_export_files(folder: Path) -> tuple[list[tuple[Path, str]], list[Path]]:
    """(recognised files with their kind, ignored .json files), both sorted by path, searching subfolders
    except the `listener=<name>` ones at the top (other listeners' exports)."""
    if not folder.is_dir():
        raise HistoryFileError(f"{folder} is not a folder (HISTORY_DIR must name the export folder)")
    recognised, ignored = [], []
    for path in sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() == ".json" and not _is_listener_folder(folder, p)
    ):
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
