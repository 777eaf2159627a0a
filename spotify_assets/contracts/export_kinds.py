"""The kinds of file in Spotify's data exports, by name, and the fields every row of a kind must hold.

Neutral ground, like `export_formats` (which adds the fields' types and the compact form a file's rows are
kept in), without pandas or pyarrow: the raw assets' wiring, the lake's JSON and the CLI read these names.
"""

import json
import re
from pathlib import Path
from typing import Any

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


REQUIRED: dict[str, tuple[str, ...]] = {
    EXTENDED: ("ts", "ms_played"),
    VIDEO: ("ts", "ms_played"),
    MUSIC: ("endTime", "msPlayed", "artistName", "trackName"),
    PODCAST: ("endTime", "msPlayed"),
    AUDIOBOOK: ("endTime", "msPlayed"),
}
STOP_TIME_FIELD = {kind: REQUIRED[kind][0] for kind in REQUIRED}
# One encoder for every row: `json.dumps` with these options builds a new encoder per call, a third of the
# cost of encoding an export row (the text is the same).
_ROW_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def row_json(row: Any) -> str:
    """A row as stored in raw: compact JSON, keys in their original order, non-ASCII kept as is."""
    return _ROW_ENCODER.encode(row)


def classify(path: Path | str) -> str | None:
    """The kind of an export file from its name, or None for files that hold no listening history."""
    name = Path(path).name
    return next((kind for pattern, kind in _PATTERNS if pattern.fullmatch(name)), None)
