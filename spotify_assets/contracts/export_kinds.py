"""The kinds of file in Spotify's data exports, by name, and the fields every row of a kind must hold.

Neutral ground, like `export_formats` (which adds the fields' types and the compact form a file's rows are
kept in), without pandas or pyarrow: the raw assets' wiring, the lake's JSON and the CLI read these names.
"""

import json
import re
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

from spotify_assets.contracts.json_codec import dumps_exact

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
# The play attributes only the data exports carry, as silver names them; null for recently-played rows.
EXPORT_COLUMNS = (
    "ms_played",
    "is_stream",
    "reason_start",
    "reason_end",
    "shuffle",
    "skipped",
    "platform",
    "conn_country",
)
STOP_TIME_FIELD = {kind: REQUIRED[kind][0] for kind in REQUIRED}
# Rows orjson cannot write exactly as `json` does (`json_codec`) go through one encoder for every row:
# `json.dumps` with these options builds a new encoder per call, a third of the cost of encoding a row.
_ROW_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
# And the C encoder that `encode` makes on each call, made once: making it was two thirds of a row's cost.
# Without its check for circular references (`markers`): rows are parsed JSON, which cannot be circular.
_C_ROW_ENCODER = (
    None
    if c_make_encoder is None
    else c_make_encoder(None, _ROW_ENCODER.default, encode_basestring, None, ":", ",", False, False, False)
)


def row_json(row: Any) -> bytes:
    """A row as stored in raw: compact UTF-8 JSON, keys in their original order, non-ASCII kept as is."""
    fast = dumps_exact(row)
    if fast is not None:
        return fast
    if _C_ROW_ENCODER is None:  # an interpreter without json's C speedups
        return _ROW_ENCODER.encode(row).encode("utf-8")
    return "".join(_C_ROW_ENCODER(row, 0)).encode("utf-8")


def classify(path: Path | str) -> str | None:
    """The kind of an export file from its name, or None for files that hold no listening history."""
    name = Path(path).name
    return next((kind for pattern, kind in _PATTERNS if pattern.fullmatch(name)), None)
