"""The sample source's fake catalogue, built once at import from a fixed seed.

39 performers and Various Artists; artist albums, singles, albums with features, a split album, compilations;
a few local files; and six playlists. `CATALOGUE` holds them as API-shaped objects (read-only).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from spotify_assets.sources.sample_objects import (
    API_URL,
    OPEN_URL,
    artist_object,
    base62_id,
    cover_images,
    local_track,
    release_date,
    track_object,
)

CATALOGUE_SEED = 20260101

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


def _title(rng: random.Random, used: set[str]) -> str:
    while True:
        title = f"{rng.choice(_WORDS)} {rng.choice(_TITLE_NOUNS)}"
        if rng.random() < 0.15:
            title = f"{title} - {rng.choice(('Acoustic', 'Radio Edit', 'Live', 'Remastered 2011'))}"
        if title not in used:
            used.add(title)
            return title


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
    artists = tuple(artist_object(base62_id(rng), name) for name in _ARTIST_NAMES)
    albums: list[dict[str, Any]] = []
    tracks: list[dict[str, Any]] = []
    album_tracks: list[tuple[int, ...]] = []
    used: set[str] = set()
    for plan in _ALBUM_PLANS:
        album_id = base62_id(rng)
        released, precision = release_date(rng)
        album = {
            "album_type": plan.album_type,
            "artists": [artists[i] for i in plan.artists],
            "external_urls": {"spotify": f"{OPEN_URL}/album/{album_id}"},
            "href": f"{API_URL}/albums/{album_id}",
            "id": album_id,
            "images": cover_images(rng),
            "name": plan.name,
            "release_date": released,
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
            tracks.append(track_object(rng, album, [artists[i] for i in credited], name, number))
        album_tracks.append(tuple(indices))
    for artist_name, album_name, title, seconds in _LOCAL_FILES:
        tracks.append(local_track(artist_name, album_name, title, seconds))

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
        playlists.append((base62_id(rng), tuple(chosen)))
    return Catalogue(
        artists=artists,
        albums=tuple(albums),
        tracks=tuple(tracks),
        album_tracks=tuple(album_tracks),
        artist_tracks={key: tuple(value) for key, value in by_artist.items() if len(value) >= 3},
        playlists=tuple(playlists),
    )


CATALOGUE = _build_catalogue()
