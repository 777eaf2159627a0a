"""A deterministic sample listening history in the exact shape of `GET /me/player/recently-played` items.

`generate_recently_played` turns a day into that day's plays of tracks from the fake catalogue
(`sample_catalogue`), seeded by the date alone, so every run, machine and time zone of the same day agrees on
which tracks were played; the time zone only decides where the day's boundaries fall.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from spotify_assets.sources.base import RecentlyPlayedFetch
from spotify_assets.sources.sample_catalogue import CATALOGUE
from spotify_assets.sources.sample_objects import context_object

_EPOCH = datetime(1970, 1, 1)
# Items get fresh item, track and context dicts; the objects nested below them are shared with the catalogue
# (read-only), which keeps a million generated items cheap to build and to hold (fewer objects for the GC).
# The JSON round trip gives each track its own nested objects, so no two tracks share one.
_TRACK_TEMPLATES = tuple(json.loads(json.dumps(track)) for track in CATALOGUE.tracks)
_DURATIONS = tuple(track["duration_ms"] for track in CATALOGUE.tracks)


_CONTEXT_KINDS = (None, "album", "playlist", "artist")
_CONTEXT_WEIGHTS = (3, 3, 3, 1)
_ALBUM_CONTEXTS = tuple(context_object("album", album["id"]) for album in CATALOGUE.albums)
_ARTIST_CONTEXTS = tuple(
    (context_object("artist", key), tracks) for key, tracks in CATALOGUE.artist_tracks.items()
)
_PLAYLIST_CONTEXTS = tuple((context_object("playlist", key), tracks) for key, tracks in CATALOGUE.playlists)


def _session(rng: random.Random, length: int) -> tuple[list[int], dict[str, Any] | None]:
    """`length` plays of one listening session: track indices in order, and their context (None: none)."""
    kind = rng.choices(_CONTEXT_KINDS, _CONTEXT_WEIGHTS)[0]
    if kind == "album":
        album = rng.randrange(len(_ALBUM_CONTEXTS))
        tracks = CATALOGUE.album_tracks[album]
        start = rng.randrange(len(tracks))
        return [tracks[(start + i) % len(tracks)] for i in range(length)], _ALBUM_CONTEXTS[album]
    if kind == "playlist":
        context, tracks = rng.choice(_PLAYLIST_CONTEXTS)
        start = rng.randrange(len(tracks))
        return [tracks[(start + i) % len(tracks)] for i in range(length)], context
    if kind == "artist":
        context, tracks = rng.choice(_ARTIST_CONTEXTS)
        return rng.choices(tracks, k=length), context
    return rng.choices(range(len(CATALOGUE.tracks)), k=length), None


def _listening(rng: random.Random, count: int) -> tuple[list[int], list[Any], list[int]]:
    """Tracks and contexts of `count` plays in order, and the indices where a new session starts."""
    tracks: list[int] = []
    contexts: list[Any] = []
    starts = []
    while len(tracks) < count:
        starts.append(len(tracks))
        session, context = _session(rng, min(rng.randint(3, 15), count - len(tracks)))
        tracks += session
        contexts += [context] * len(session)
    return tracks, contexts, starts


def _play_times(rng: random.Random, first: int, last: int, tracks: list[int], starts: list[int]) -> list[int]:
    """Strictly increasing end times (epoch ms) from `first` to exactly `last`, a track's length apart."""
    if len(tracks) == 1:
        return [first]
    gaps = []
    for track in tracks[1:]:
        duration = _DURATIONS[track]
        # Most plays run to the end; some are skipped part-way.
        played = duration if rng.random() < 0.85 else rng.randint(min(5_000, duration), duration)
        gaps.append(played + rng.randint(150, 2_500))
    span, total = last - first, sum(gaps)
    if total <= span:
        # The idle time between sessions absorbs the slack; the last gap is a break so `last` is hit exactly.
        breaks = sorted({start - 1 for start in starts if start > 0} | {len(gaps) - 1})
        weights = [rng.random() + 0.05 for _ in breaks]
        slack, scale = span - total, sum(weights)
        for gap, weight in zip(breaks, weights, strict=True):
            gaps[gap] += int(slack * weight / scale)
    else:
        if span < len(gaps):
            raise ValueError(f"{len(tracks)} plays do not fit in one day at millisecond precision")
        room = span - len(gaps)
        gaps = [1 + gap * room // total for gap in gaps]
    gaps[-1] += span - sum(gaps)
    times = [first]
    for gap in gaps:
        times.append(times[-1] + gap)
    return times


def _iso_millis(millis: int) -> str:
    return (_EPOCH + timedelta(milliseconds=millis)).isoformat(timespec="milliseconds") + "Z"


def _epoch_millis(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants of `day`'s local midnight and the next one, in `timezone` (IANA name)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time(), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
    return start, end


def generate_recently_played(
    day: date, timezone: str = "UTC", plays: int | None = None, seed: str | None = None
) -> list[dict[str, Any]]:
    """The sample plays of local `day` as recently-played items, newest first; seeded by the date alone
    (and `seed`, a listener's name, for the listeners of a household).

    Objects nested inside an item's track and context are shared between items: treat items as read-only.
    """
    rng = random.Random(day.toordinal() if seed is None else f"{seed}|{day.toordinal()}")
    count = rng.randint(30, 90) if plays is None else plays
    if count <= 0:
        return []
    start, end = (_epoch_millis(moment) for moment in day_bounds(day, timezone))
    first, last = start + rng.randrange(60_000), end - 1 - rng.randrange(60_000)
    tracks, contexts, starts = _listening(rng, count)
    times = _play_times(rng, first, last, tracks, starts)
    items = [
        {
            "track": dict(_TRACK_TEMPLATES[track]),
            "context": None if context is None else dict(context),
            "played_at": _iso_millis(millis),
        }
        for track, context, millis in zip(tracks, contexts, times, strict=True)
    ]
    items.reverse()
    return items


class SampleRecentlyPlayedSource:
    """The sample history as a `RecentlyPlayedSource`: every local day's generated plays, seeded by the date.

    Like the real API, it lists a play only once its time has come: today's partition holds the plays up to
    now (`clock`), and grows as the intraday capture runs; past days are always the same.
    """

    def __init__(
        self,
        listener_id: str = "demo",
        timezone: str = "UTC",
        plays_per_day: int | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        seed: str | None = None,
    ):
        ZoneInfo(timezone)
        self._seed = seed
        self._listener_id = listener_id
        self._timezone = timezone
        self._plays_per_day = plays_per_day
        self._clock = clock

    def listener_id(self) -> str:
        """The listener the sample plays belong to."""
        return self._listener_id

    def recently_played_between(self, start: datetime, end: datetime) -> RecentlyPlayedFetch:
        """Generated items with played_at in [start, end), newest first."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        now = self._clock()
        end = min(end, now)
        if end <= start:
            return RecentlyPlayedFetch(items=[], fetched_at=now)
        zone = ZoneInfo(self._timezone)
        first_day = start.astimezone(zone).date()
        last_day = (end - timedelta(microseconds=1)).astimezone(zone).date()
        items = []
        day = last_day
        while day >= first_day:
            for item in generate_recently_played(day, self._timezone, self._plays_per_day, self._seed):
                if start <= datetime.fromisoformat(item["played_at"]) < end:
                    items.append(item)
            day -= timedelta(days=1)
        return RecentlyPlayedFetch(items=items, reached_api_limit=False, fetched_at=now)
