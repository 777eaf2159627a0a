"""The deterministic sample history: API-shaped, inside its day, and sound through silver and gold."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from spotify_assets.sources.base import RecentlyPlayedSource
from spotify_assets.sources.sample import SampleRecentlyPlayedSource, day_bounds, generate_recently_played
from spotify_assets.sources.sample_catalogue import CATALOGUE
from spotify_assets.transforms import gold
from spotify_assets.transforms.silver import flatten_recently_played

DAY = date(2025, 6, 14)
WEEK = [date(2025, 6, 9) + timedelta(days=i) for i in range(7)]
ISO_MILLIS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
BASE62_ID = re.compile(r"^[0-9A-Za-z]{22}$")

ITEM_KEYS = {"track", "context", "played_at"}
TRACK_KEYS = {"album", "artists", "disc_number", "duration_ms", "explicit", "external_ids", "external_urls"}
TRACK_KEYS |= {"href", "id", "is_local", "name", "track_number", "type", "uri"}
ALBUM_KEYS = {"album_type", "artists", "external_urls", "href", "id", "images", "name", "release_date"}
ALBUM_KEYS |= {"release_date_precision", "total_tracks", "type", "uri"}
ARTIST_KEYS = {"external_urls", "href", "id", "name", "type", "uri"}
CONTEXT_KEYS = {"type", "uri", "href", "external_urls"}


def _played_at(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["played_at"])


def _week_items(timezone: str = "UTC") -> list[dict[str, Any]]:
    return [item for day in WEEK for item in generate_recently_played(day, timezone)]


def test_same_day_gives_the_same_items() -> None:
    assert generate_recently_played(DAY) == generate_recently_played(DAY)
    assert generate_recently_played(DAY, "Asia/Kolkata") == generate_recently_played(DAY, "Asia/Kolkata")


def test_different_days_differ() -> None:
    days = [[item["track"]["uri"] for item in generate_recently_played(day)] for day in WEEK]
    assert all(a != b for a, b in zip(days, days[1:], strict=False))


def test_time_zone_moves_the_day_not_the_tracks() -> None:
    utc = generate_recently_played(DAY, "UTC")
    tokyo = generate_recently_played(DAY, "Asia/Tokyo")
    assert [item["track"]["uri"] for item in utc] == [item["track"]["uri"] for item in tokyo]
    assert _played_at(utc[0]) - _played_at(tokyo[0]) == timedelta(hours=9)


@pytest.mark.parametrize(
    ("day", "timezone"),
    [
        (DAY, "UTC"),
        (DAY, "America/New_York"),
        (DAY, "Asia/Kolkata"),
        (date(2025, 3, 30), "Europe/Berlin"),  # 23-hour day
        (date(2025, 10, 26), "Europe/Berlin"),  # 25-hour day
        (date(2025, 1, 1), "Pacific/Kiritimati"),
    ],
)
def test_plays_fall_inside_the_local_day(day: date, timezone: str) -> None:
    items = generate_recently_played(day, timezone)
    assert 30 <= len(items) <= 90
    moments = [_played_at(item) for item in items]
    assert moments == sorted(moments, reverse=True)
    assert len(set(moments)) == len(moments)
    assert {moment.astimezone(ZoneInfo(timezone)).date() for moment in moments} == {day}
    start, end = day_bounds(day, timezone)
    assert timedelta(0) <= moments[-1] - start < timedelta(minutes=1)
    assert timedelta(0) < end - moments[0] <= timedelta(minutes=1)


def test_plays_are_spaced_like_listening() -> None:
    items = list(reversed(generate_recently_played(DAY)))
    gaps = [
        (_played_at(later) - _played_at(earlier)).total_seconds() * 1000
        for earlier, later in zip(items, items[1:], strict=False)
    ]
    durations = [item["track"]["duration_ms"] for item in items[1:]]
    # No play ends sooner after the previous one than a skip allows, nor is the day one continuous session.
    assert min(gaps) >= 5_000
    assert sum(gap <= duration + 2_500 for gap, duration in zip(gaps, durations, strict=True)) > len(gaps) / 2
    assert max(gaps) > 30 * 60 * 1000


@pytest.mark.parametrize("count", [0, 1, 2, 100, 1000])
def test_plays_forces_the_count(count: int) -> None:
    items = generate_recently_played(DAY, "Europe/Paris", plays=count)
    assert len(items) == count
    assert len({item["played_at"] for item in items}) == count
    assert all(_played_at(item).astimezone(ZoneInfo("Europe/Paris")).date() == DAY for item in items)


def test_items_have_the_api_shape() -> None:
    for item in _week_items():
        assert set(item) == ITEM_KEYS
        assert ISO_MILLIS.match(item["played_at"])
        track = item["track"]
        assert set(track) == TRACK_KEYS
        assert set(track["album"]) == ALBUM_KEYS
        assert all(set(artist) == ARTIST_KEYS for artist in track["artists"] + track["album"]["artists"])
        assert track["type"] == "track" and track["album"]["type"] == "album"
        if item["context"] is not None:
            assert set(item["context"]) == CONTEXT_KEYS
            assert item["context"]["type"] in {"album", "playlist", "artist"}
        if track["is_local"]:
            continue
        assert BASE62_ID.match(track["id"]) and BASE62_ID.match(track["album"]["id"])
        assert track["uri"] == f"spotify:track:{track['id']}"
        assert all(BASE62_ID.match(artist["id"]) for artist in track["artists"])
        assert set(track["external_ids"]) == {"isrc"}
        assert len(track["album"]["images"]) == 3


def test_catalogue_size() -> None:
    track_artists = {a["name"] for track in CATALOGUE.tracks for a in track["artists"]}
    assert len(CATALOGUE.artists) == 40
    assert 20 <= len(CATALOGUE.albums) <= 30
    assert 130 <= len(CATALOGUE.tracks) <= 170
    assert 3 <= sum(track["is_local"] for track in CATALOGUE.tracks) <= 4
    assert len({track["uri"] for track in CATALOGUE.tracks}) == len(CATALOGUE.tracks)
    assert len(track_artists) >= 35


def test_a_week_holds_the_interesting_cases() -> None:
    items = _week_items()
    tracks = [item["track"] for item in items]
    local = [track for track in tracks if track["is_local"]]
    assert local
    for track in local:
        assert track["id"] is None and track["href"] is None and track["album"]["id"] is None
        assert all(artist["id"] is None for artist in track["artists"])
        assert track["album"]["images"] == []
        assert re.match(r"^spotify:local:[^:]+:[^:]+:[^:]+:\d+$", track["uri"])
    assert any(len(track["artists"]) > 1 for track in tracks)
    assert any(
        not {a["id"] for a in track["album"]["artists"]} <= {a["id"] for a in track["artists"]}
        for track in tracks
        if not track["is_local"]
    )
    assert {item["context"]["type"] if item["context"] else None for item in items} == {
        None,
        "album",
        "playlist",
        "artist",
    }


def test_items_do_not_share_their_top_level_objects() -> None:
    items = generate_recently_played(DAY)
    same_track = [item for item in items if item["track"]["id"] == items[0]["track"]["id"]]
    items[0]["track"]["name"] = "changed"
    assert generate_recently_played(DAY)[0]["track"]["name"] != "changed"
    assert all(item["track"]["name"] != "changed" for item in same_track[1:])


@pytest.mark.parametrize("timezone", ["UTC", "America/Los_Angeles"])
def test_a_week_flattens_to_a_sound_star_schema(timezone: str) -> None:
    items = _week_items(timezone)
    plays = flatten_recently_played(items, "demo", timezone)
    assert len(plays) == len(items)
    assert set(plays["extraction_date"]) == set(WEEK)
    dims = {
        "track_key": gold.build_dim_track(plays),
        "album_key": gold.build_dim_album(plays),
        "artist_key": gold.build_dim_artist(plays),
    }
    for key, dim in dims.items():
        assert dim[key].is_unique, key
    dim_date = gold.build_dim_date(WEEK)
    fact = gold.build_fact(plays, timezone)
    bridge = gold.build_bridge_track_artist(plays)
    assert fact["play_id"].is_unique
    assert not bridge.duplicated(["track_key", "artist_key"]).any()
    assert set(fact["track_key"]) <= set(dims["track_key"]["track_key"])
    assert set(fact["album_key"]) <= set(dims["album_key"]["album_key"])
    assert set(fact["primary_artist_key"]) <= set(dims["artist_key"]["artist_key"])
    assert set(fact["date_key"]) == set(dim_date["date_key"])
    assert set(bridge["artist_key"]) <= set(dims["artist_key"]["artist_key"])
    assert set(dims["album_key"]["primary_artist_key"]) <= set(dims["artist_key"]["artist_key"])
    assert dims["track_key"]["is_local"].any()
    assert dims["artist_key"]["artist_id"].isna().any()  # local-file artists carry derived keys
    assert bridge["position"].max() >= 1


def test_source_implements_the_protocol() -> None:
    source: RecentlyPlayedSource = SampleRecentlyPlayedSource()
    assert source.listener_id() == "demo"
    assert SampleRecentlyPlayedSource("someone").listener_id() == "someone"


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Berlin"])
def test_source_filters_to_the_window(timezone: str) -> None:
    zone = ZoneInfo(timezone)
    start = datetime(2025, 6, 14, 18, 30, tzinfo=zone)
    end = datetime(2025, 6, 15, 7, 0, tzinfo=zone)
    fetch = SampleRecentlyPlayedSource(timezone=timezone).recently_played_between(start, end.astimezone(UTC))
    candidates = generate_recently_played(date(2025, 6, 15), timezone) + generate_recently_played(
        DAY, timezone
    )
    expected = [item for item in candidates if start <= _played_at(item) < end]
    assert fetch.items == expected
    assert 0 < len(fetch.items) < len(candidates)
    assert fetch.reached_api_limit is False
    moments = [_played_at(item) for item in fetch.items]
    assert moments == sorted(moments, reverse=True)


def test_source_window_edges() -> None:
    source = SampleRecentlyPlayedSource()
    items = generate_recently_played(DAY)
    newest, oldest = _played_at(items[0]), _played_at(items[-1])
    assert source.recently_played_between(oldest, newest).items == items[1:]
    assert source.recently_played_between(newest, newest).items == []
    whole_day = source.recently_played_between(*day_bounds(DAY, "UTC")).items
    assert whole_day == items
    with pytest.raises(ValueError, match="timezone-aware"):
        source.recently_played_between(datetime(2025, 6, 14), datetime(2025, 6, 15))


def test_source_plays_per_day() -> None:
    source = SampleRecentlyPlayedSource(plays_per_day=10)
    assert len(source.recently_played_between(*day_bounds(DAY, "UTC")).items) == 10
    start, _ = day_bounds(DAY, "UTC")
    assert len(source.recently_played_between(start, start + timedelta(days=3)).items) == 30


def test_source_lists_a_play_only_once_its_time_has_come() -> None:
    items = generate_recently_played(DAY)
    noon = datetime(DAY.year, DAY.month, DAY.day, 12, tzinfo=UTC)
    source = SampleRecentlyPlayedSource(clock=lambda: noon)
    so_far = source.recently_played_between(*day_bounds(DAY, "UTC")).items
    assert so_far == [item for item in items if _played_at(item) < noon]
    assert 0 < len(so_far) < len(items)
    later = SampleRecentlyPlayedSource(clock=lambda: noon + timedelta(days=1))
    assert later.recently_played_between(*day_bounds(DAY, "UTC")).items == items  # the whole day, once past
    start, _ = day_bounds(DAY + timedelta(days=1), "UTC")
    assert source.recently_played_between(start, start + timedelta(hours=1)).items == []  # the future
