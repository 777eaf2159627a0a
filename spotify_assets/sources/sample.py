"""A deterministic sample listening history in the exact shape of `GET /me/player/recently-played` items.

A fixed fake catalogue (built at import from a fixed seed) holds artists, albums (artist albums, singles,
features, a split album, compilations) and a few local files. `generate_recently_played` turns a day into
that day's plays, seeded by the date alone, so every run, machine and time zone of the same day agrees on
which tracks were played; the time zone only decides where the day's boundaries fall.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

from spotify_assets.sources.base import RecentlyPlayedFetch

CATALOGUE_SEED = 20260101
OPEN_URL = "https://open.spotify.com"
API_URL = "https://api.spotify.com/v1"
_BASE62 = string.digits + string.ascii_letters
_EPOCH = datetime(1970, 1, 1)

# 39 performers (0-15 lead albums, 16-38 appear as features and on compilations), then Various Artists.
_ARTIST_NAMES = (
    "Mira Okafor",
    "The Velvet Lanterns",
    "Juno Hale",
    "Static Orchard",
    "Ravi Castellanos",
    "Northbound Ferries",
    "Lotte Brandt",
    "Kairo",
    "The Paper Saints",
    "Ines Marlowe",
    "Glass Harbor",
    "Tomasz Wren",
    "Sol & Ember",
    "Delphine Aro",
    "Hollow Pines",
    "Marek Ilves",
    "Yuna Bell",
    "DJ Corvid",
    "Amara Quist",
    "The Low Tides",
    "Felix Oduya",
    "Nadia Solberg",
    "Copper Lane",
    "Bashir Kent",
    "Lila Moreau",
    "Okoro Twins",
    "Saffron Drive",
    "Emil Varga",
    "Tess Calloway",
    "Nightjar",
    "Rosa Lindqvist",
    "Quentin Ash",
    "Harbor Lights Choir",
    "Zeno Park",
    "Maya Thorne",
    "Blue Verandah",
    "Idris Vale",
    "Anouk Meyer",
    "Calder & Finch",
    "Various Artists",
)
_VARIOUS_ARTISTS = len(_ARTIST_NAMES) - 1
_FEATURED_POOL = range(16, _VARIOUS_ARTISTS)

_WORDS = (
    "Amber",
    "Echo",
    "Paper",
    "Midnight",
    "Silver",
    "Harbor",
    "Lantern",
    "Velvet",
    "Northern",
    "Glass",
    "Orchard",
    "River",
    "Static",
    "Golden",
    "Hollow",
    "Summer",
    "Ember",
    "Winter",
    "Satellite",
    "Garden",
    "Neon",
    "Quiet",
    "Wild",
    "Distant",
    "Electric",
    "Paradise",
    "Ocean",
    "Signal",
    "Canyon",
    "Morning",
)
_TITLE_NOUNS = (
    "Lights",
    "Hearts",
    "Roads",
    "Letters",
    "Dreams",
    "Waves",
    "Rooms",
    "Fires",
    "Songs",
    "Skies",
    "Lines",
    "Bridges",
    "Stars",
    "Shadows",
    "Windows",
    "Streets",
    "Horses",
    "Tides",
    "Voices",
    "Days",
)


@dataclass(frozen=True)
class _AlbumPlan:
    name: str
    album_type: str
    artists: tuple[int, ...]
    tracks: int
    by: str = "album artist"  # "album artist" | "split" (second half by artist 15) | "various"


_ALBUM_PLANS = (
    _AlbumPlan("Paper Lanterns", "album", (0,), 10),
    _AlbumPlan("Late Bloom", "album", (0,), 8),
    _AlbumPlan("Velvet Hours", "album", (1,), 9),
    _AlbumPlan("Crosswind", "single", (1,), 2),
    _AlbumPlan("Harbor Songs", "album", (2,), 9),
    _AlbumPlan("Northern Static", "album", (3,), 8),
    _AlbumPlan("Blue Orchard", "single", (3,), 1),
    _AlbumPlan("Ravi en Vivo", "album", (4,), 7),
    _AlbumPlan("Ferry Timetables", "album", (5,), 8),
    _AlbumPlan("Stille Wasser", "album", (6,), 7),
    _AlbumPlan("KAIRO", "album", (7,), 9),
    _AlbumPlan("Saints and Sinners", "album", (8,), 8),
    _AlbumPlan("Marlowe", "single", (9,), 3),
    _AlbumPlan("Glass Harbor", "album", (10,), 8),
    _AlbumPlan("Wren Songs", "album", (11,), 6),
    _AlbumPlan("Two Fires", "album", (12, 13), 8),
    _AlbumPlan("Pines / Ilves", "album", (14,), 6, by="split"),
    _AlbumPlan("Summer Signals 2019", "compilation", (_VARIOUS_ARTISTS,), 10, by="various"),
    _AlbumPlan("Midnight Radio, Vol. 2", "compilation", (_VARIOUS_ARTISTS,), 9, by="various"),
    _AlbumPlan("Quiet Mornings", "compilation", (_VARIOUS_ARTISTS,), 8, by="various"),
    _AlbumPlan("Harbor Lights Live", "album", (32,), 5),
)

# (artist, album, title, seconds): local files have no ids; the API credits no album artist for them.
_LOCAL_FILES = (
    ("The Garage Tapes", "Basement Demos", "Demo #1 (rough mix)", 187),
    ("The Garage Tapes", "Basement Demos", "Untitled Jam", 262),
    ("Uncle Ray", "Family Party 2009", "Happy Birthday, Nana", 95),
    ("Kairo", "Voice Memos", "idea 14", 41),
)


def _base62(rng: random.Random) -> str:
    return "".join(rng.choices(_BASE62, k=22))


def _artist_object(artist_id: str | None, name: str) -> dict[str, Any]:
    if artist_id is None:
        return {"external_urls": {}, "href": None, "id": None, "name": name, "type": "artist", "uri": None}
    return {
        "external_urls": {"spotify": f"{OPEN_URL}/artist/{artist_id}"},
        "href": f"{API_URL}/artists/{artist_id}",
        "id": artist_id,
        "name": name,
        "type": "artist",
        "uri": f"spotify:artist:{artist_id}",
    }


def _release_date(rng: random.Random) -> tuple[str, str]:
    day = date(1995, 1, 1) + timedelta(days=rng.randrange(31 * 365))
    precision = rng.choices(("day", "month", "year"), weights=(7, 1, 2))[0]
    width = {"day": 10, "month": 7, "year": 4}[precision]
    return day.isoformat()[:width], precision


def _images(rng: random.Random) -> list[dict[str, Any]]:
    digest = "".join(rng.choices("0123456789abcdef", k=24))
    sizes = (("b273", 640), ("1e02", 300), ("4851", 64))
    return [
        {"height": size, "url": f"https://i.scdn.co/image/ab67616d0000{code}{digest}", "width": size}
        for code, size in sizes
    ]


def _isrc(rng: random.Random, year: str) -> str:
    registrant = "".join(rng.choices(string.ascii_uppercase + string.digits, k=3))
    return f"QZ{registrant}{year[2:4]}{rng.randrange(100000):05d}"


def _title(rng: random.Random, used: set[str]) -> str:
    while True:
        title = f"{rng.choice(_WORDS)} {rng.choice(_TITLE_NOUNS)}"
        if rng.random() < 0.15:
            title = f"{title} - {rng.choice(('Acoustic', 'Radio Edit', 'Live', 'Remastered 2011'))}"
        if title not in used:
            used.add(title)
            return title


def _track_object(
    rng: random.Random, album: dict[str, Any], artists: list[dict[str, Any]], name: str, number: int
) -> dict[str, Any]:
    track_id = _base62(rng)
    return {
        "album": album,
        "artists": artists,
        "disc_number": 1,
        "duration_ms": rng.randint(95_000, 420_000),
        "explicit": rng.random() < 0.2,
        "external_ids": {"isrc": _isrc(rng, album["release_date"])},
        "external_urls": {"spotify": f"{OPEN_URL}/track/{track_id}"},
        "href": f"{API_URL}/tracks/{track_id}",
        "id": track_id,
        "is_local": False,
        "name": name,
        "track_number": number,
        "type": "track",
        "uri": f"spotify:track:{track_id}",
    }


def _local_track(artist: str, album: str, title: str, seconds: int) -> dict[str, Any]:
    uri = ":".join(["spotify:local", *(quote_plus(part) for part in (artist, album, title)), str(seconds)])
    return {
        "album": {
            "album_type": None,
            "artists": [],
            "external_urls": {},
            "href": None,
            "id": None,
            "images": [],
            "name": album,
            "release_date": None,
            "release_date_precision": None,
            "total_tracks": None,
            "type": "album",
            "uri": None,
        },
        "artists": [_artist_object(None, artist)],
        "disc_number": 0,
        "duration_ms": seconds * 1000,
        "explicit": False,
        "external_ids": {},
        "external_urls": {},
        "href": None,
        "id": None,
        "is_local": True,
        "name": title,
        "track_number": 0,
        "type": "track",
        "uri": uri,
    }


@dataclass(frozen=True)
class Catalogue:
    """The fake catalogue: API-shaped artist, album and track objects (read-only), and playlists."""

    artists: tuple[dict[str, Any], ...]
    albums: tuple[dict[str, Any], ...]
    tracks: tuple[dict[str, Any], ...]
    album_tracks: tuple[tuple[int, ...], ...]
    artist_tracks: dict[str, tuple[int, ...]] = field(repr=False)
    playlists: tuple[tuple[str, tuple[int, ...]], ...] = field(repr=False)


def _build_catalogue() -> Catalogue:
    rng = random.Random(CATALOGUE_SEED)
    artists = tuple(_artist_object(_base62(rng), name) for name in _ARTIST_NAMES)
    albums: list[dict[str, Any]] = []
    tracks: list[dict[str, Any]] = []
    album_tracks: list[tuple[int, ...]] = []
    used: set[str] = set()
    for plan in _ALBUM_PLANS:
        album_id = _base62(rng)
        release_date, precision = _release_date(rng)
        album = {
            "album_type": plan.album_type,
            "artists": [artists[i] for i in plan.artists],
            "external_urls": {"spotify": f"{OPEN_URL}/album/{album_id}"},
            "href": f"{API_URL}/albums/{album_id}",
            "id": album_id,
            "images": _images(rng),
            "name": plan.name,
            "release_date": release_date,
            "release_date_precision": precision,
            "total_tracks": plan.tracks,
            "type": "album",
            "uri": f"spotify:album:{album_id}",
        }
        albums.append(album)
        indices = []
        for number in range(1, plan.tracks + 1):
            name = _title(rng, used)
            if plan.by == "various":
                credited = [rng.randrange(_VARIOUS_ARTISTS)]
            elif plan.by == "split" and number > plan.tracks // 2:
                credited = [15]
            else:
                credited = list(plan.artists)
            if plan.by != "various" and rng.random() < 0.25:
                features = rng.sample(_FEATURED_POOL, rng.choice((1, 1, 2)))
                credited += [i for i in features if i not in credited]
                name = f"{name} (feat. {' & '.join(_ARTIST_NAMES[i] for i in credited[1:])})"
            indices.append(len(tracks))
            tracks.append(_track_object(rng, album, [artists[i] for i in credited], name, number))
        album_tracks.append(tuple(indices))
    for artist_name, album_name, title, seconds in _LOCAL_FILES:
        tracks.append(_local_track(artist_name, album_name, title, seconds))

    by_artist: dict[str, list[int]] = {}
    for index, track in enumerate(tracks):
        for artist in track["artists"]:
            if artist["id"]:
                by_artist.setdefault(artist["id"], []).append(index)
    local = [i for i, track in enumerate(tracks) if track["is_local"]]
    playlists = []
    for _ in range(6):
        chosen = rng.sample(range(len(tracks) - len(local)), rng.randint(15, 40))
        if rng.random() < 0.5:
            chosen += rng.sample(local, rng.randint(1, len(local)))
            rng.shuffle(chosen)
        playlists.append((_base62(rng), tuple(chosen)))
    return Catalogue(
        artists=artists,
        albums=tuple(albums),
        tracks=tuple(tracks),
        album_tracks=tuple(album_tracks),
        artist_tracks={key: tuple(value) for key, value in by_artist.items() if len(value) >= 3},
        playlists=tuple(playlists),
    )


CATALOGUE = _build_catalogue()
# Items get fresh item, track and context dicts; the objects nested below them are shared with the catalogue
# (read-only), which keeps a million generated items cheap to build and to hold (fewer objects for the GC).
# The JSON round trip gives each track its own nested objects, so no two tracks share one.
_TRACK_TEMPLATES = tuple(json.loads(json.dumps(track)) for track in CATALOGUE.tracks)
_DURATIONS = tuple(track["duration_ms"] for track in CATALOGUE.tracks)


def _context(kind: str, spotify_id: str) -> dict[str, Any]:
    plural = {"album": "albums", "artist": "artists", "playlist": "playlists"}[kind]
    return {
        "external_urls": {"spotify": f"{OPEN_URL}/{kind}/{spotify_id}"},
        "href": f"{API_URL}/{plural}/{spotify_id}",
        "type": kind,
        "uri": f"spotify:{kind}:{spotify_id}",
    }


_CONTEXT_KINDS = (None, "album", "playlist", "artist")
_CONTEXT_WEIGHTS = (3, 3, 3, 1)
_ALBUM_CONTEXTS = tuple(_context("album", album["id"]) for album in CATALOGUE.albums)
_ARTIST_CONTEXTS = tuple((_context("artist", key), tracks) for key, tracks in CATALOGUE.artist_tracks.items())
_PLAYLIST_CONTEXTS = tuple((_context("playlist", key), tracks) for key, tracks in CATALOGUE.playlists)


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
    day: date, timezone: str = "UTC", plays: int | None = None
) -> list[dict[str, Any]]:
    """The sample plays of local `day` as recently-played items, newest first; seeded by the date alone.

    Objects nested inside an item's track and context are shared between items: treat items as read-only.
    """
    rng = random.Random(day.toordinal())
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
    ):
        ZoneInfo(timezone)
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
            for item in generate_recently_played(day, self._timezone, self._plays_per_day):
                if start <= datetime.fromisoformat(item["played_at"]) < end:
                    items.append(item)
            day -= timedelta(days=1)
        return RecentlyPlayedFetch(items=items, reached_api_limit=False, fetched_at=now)
