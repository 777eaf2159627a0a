"""Deterministic keys for artists, albums, tracks and plays.

An entity's key is its Spotify id when it has one. Entities without an id (local files, history rows that only
carry names) get a derived key: `"~"` followed by the first 21 hex digits of the SHA-1 of
`kind|normalized part|normalized part...`, where the parts are

- artist: the artist name;
- album: the first album artist's name (the first track artist's when the album credits none, as for local
  files and data exports), then the album name;
- track: the first track artist's name, then the track name.

Derived keys are 22 characters like Spotify ids, and `~` never occurs in Spotify's base62 ids, so the two
kinds never collide. Any source that knows the same names (the recently-played API, a data export) gets the
same key.
"""

from __future__ import annotations

import hashlib
import unicodedata

import numpy as np
import pandas as pd

DERIVED_PREFIX = "~"
_EPOCH = pd.Timestamp(0, tz="UTC")


def normalize_name(name: str) -> str:
    """Name as compared for keys: NFKC, casefolded, trimmed, inner whitespace runs collapsed to one space."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def derived_key(kind: str, *parts: str | None) -> str:
    """The key of an entity without a Spotify id, from its kind and normalized names (non-str parts: "")."""
    text = "|".join([kind, *(normalize_name(part if isinstance(part, str) else "") for part in parts)])
    return DERIVED_PREFIX + hashlib.sha1(text.encode()).hexdigest()[:21]


def is_derived(key: str) -> bool:
    """True for a key derived from names, False for a Spotify id."""
    return key.startswith(DERIVED_PREFIX)


def epoch_millis_array(played_at: pd.Series) -> np.ndarray:
    """Milliseconds since the Unix epoch of a column of timezone-aware instants, as int64."""
    return ((pd.to_datetime(played_at, utc=True) - _EPOCH) // pd.Timedelta(1, "ms")).to_numpy(dtype=np.int64)


def play_ids(listener_ids: pd.Series, played_at: pd.Series, track_keys: pd.Series) -> pd.Series:
    """The key of each play: SHA-1 hex[:32] of `listener_id|epoch milliseconds|track_key`, over aligned
    columns (played_at timezone-aware), as a string Series on their index."""
    millis = epoch_millis_array(played_at).tolist()
    sha1 = hashlib.sha1  # inlined: a function call per play was a third of the cost
    hashes = [
        sha1(f"{listener}|{ms}|{track}".encode()).hexdigest()[:32]
        for listener, ms, track in zip(listener_ids.tolist(), millis, track_keys.tolist(), strict=True)
    ]
    return pd.Series(hashes, index=played_at.index, dtype="string")
