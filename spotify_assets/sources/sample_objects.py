"""API-shaped objects for the sample catalogue: artists, albums' covers, tracks, local files and contexts.

Each builder returns a dict with exactly the keys `GET /me/player/recently-played` gives the same object, with
22-character base62 ids drawn from the caller's seeded `random.Random` (so the catalogue is the same on every
machine). Local files carry no ids and no links, as in the API.
"""

from __future__ import annotations

import random
import string
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote_plus

OPEN_URL = "https://open.spotify.com"
API_URL = "https://api.spotify.com/v1"
_BASE62 = string.digits + string.ascii_letters


def base62_id(rng: random.Random) -> str:
    """A Spotify-like id: 22 base62 characters."""
    return "".join(rng.choices(_BASE62, k=22))


def artist_object(artist_id: str | None, name: str) -> dict[str, Any]:
    """A simplified artist object; without an id (a local file's artist) it has no links."""
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


def release_date(rng: random.Random) -> tuple[str, str]:
    """An album's `release_date` and its `release_date_precision` (day, month or year)."""
    day = date(1995, 1, 1) + timedelta(days=rng.randrange(31 * 365))
    precision = rng.choices(("day", "month", "year"), weights=(7, 1, 2))[0]
    width = {"day": 10, "month": 7, "year": 4}[precision]
    return day.isoformat()[:width], precision


def cover_images(rng: random.Random) -> list[dict[str, Any]]:
    """An album's three cover image sizes, as the API lists them."""
    digest = "".join(rng.choices("0123456789abcdef", k=24))
    sizes = (("b273", 640), ("1e02", 300), ("4851", 64))
    return [
        {"height": size, "url": f"https://i.scdn.co/image/ab67616d0000{code}{digest}", "width": size}
        for code, size in sizes
    ]


def isrc(rng: random.Random, year: str) -> str:
    """A made-up ISRC registered in `year` (the "QZ" prefix is reserved for such codes)."""
    registrant = "".join(rng.choices(string.ascii_uppercase + string.digits, k=3))
    return f"QZ{registrant}{year[2:4]}{rng.randrange(100000):05d}"


def track_object(
    rng: random.Random, album: dict[str, Any], artists: list[dict[str, Any]], name: str, number: int
) -> dict[str, Any]:
    """A full track object on `album`, credited to `artists`, numbered `number` on the album."""
    track_id = base62_id(rng)
    return {
        "album": album,
        "artists": artists,
        "disc_number": 1,
        "duration_ms": rng.randint(95_000, 420_000),
        "explicit": rng.random() < 0.2,
        "external_ids": {"isrc": isrc(rng, album["release_date"])},
        "external_urls": {"spotify": f"{OPEN_URL}/track/{track_id}"},
        "href": f"{API_URL}/tracks/{track_id}",
        "id": track_id,
        "is_local": False,
        "name": name,
        "track_number": number,
        "type": "track",
        "uri": f"spotify:track:{track_id}",
    }


def local_track(artist: str, album: str, title: str, seconds: int) -> dict[str, Any]:
    """A local file's track object: no ids, no links, a `spotify:local:` uri built from its tags."""
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
        "artists": [artist_object(None, artist)],
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


def context_object(kind: str, spotify_id: str) -> dict[str, Any]:
    """The `context` of a play: the album, artist or playlist it was played from."""
    plural = {"album": "albums", "artist": "artists", "playlist": "playlists"}[kind]
    return {
        "external_urls": {"spotify": f"{OPEN_URL}/{kind}/{spotify_id}"},
        "href": f"{API_URL}/{plural}/{spotify_id}",
        "type": kind,
        "uri": f"spotify:{kind}:{spotify_id}",
    }
