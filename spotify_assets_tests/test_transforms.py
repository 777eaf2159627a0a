"""Raw recently-played items -> silver plays -> gold star schema, on the real 2017 API response."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from spotify_assets.contracts import tables
from spotify_assets.contracts.table_frames import conform, empty_frame
from spotify_assets.contracts.tables import PLAYS
from spotify_assets.transforms import gold, gold_inputs, keys
from spotify_assets.transforms.silver import flatten_recently_played

# The same path conftest's `fixtures_dir` gives; used when the tests run without conftest (--noconftest).
FIXTURES_DIR = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "spotify"
RECENTLY_PLAYED_2017 = "recently_played/recently_played_2017_20items.json"


@pytest.fixture(scope="module")
def response_2017(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The verbatim 2017 `GET /me/player/recently-played` response."""
    try:
        base = request.getfixturevalue("fixtures_dir")
    except pytest.FixtureLookupError:
        base = FIXTURES_DIR
    return json.loads((Path(base) / RECENTLY_PLAYED_2017).read_text(encoding="utf-8"))


@pytest.fixture
def items(response_2017: dict[str, Any]) -> list[dict[str, Any]]:
    """A fresh deep copy of the 2017 items, free to modify."""
    return copy.deepcopy(response_2017["items"])


@pytest.fixture
def plays(items: list[dict[str, Any]]) -> pd.DataFrame:
    return flatten_recently_played(items, "listener", "UTC")


def _item(
    played_at: str, track_id: str | None, track: str, artists: list[tuple[str | None, str]], **album: Any
):
    """A minimal well-formed recently-played item."""
    return {
        "played_at": played_at,
        "context": None,
        "track": {
            "id": track_id,
            "name": track,
            "uri": f"spotify:track:{track_id}",
            "duration_ms": 200_000,
            "artists": [{"id": artist_id, "name": name} for artist_id, name in artists],
            "album": {
                "id": album.get("album_id", "album000000000000000001"),
                "name": album.get("album_name", "An Album"),
                "artists": [{"id": artists[0][0], "name": artists[0][1]}],
                "images": album.get("images", []),
                "release_date": album.get("release_date"),
            },
        },
    }


def _local_item(played_at: str, artist: str, album: str, title: str) -> dict[str, Any]:
    return {
        "played_at": played_at,
        "context": None,
        "track": {
            "id": None,
            "href": None,
            "is_local": True,
            "name": title,
            "uri": f"spotify:local:{artist}:{album}:{title}:200",
            "duration_ms": 200_000,
            "artists": [{"id": None, "name": artist, "uri": None}],
            "album": {"id": None, "name": album, "artists": [], "images": []},
        },
    }


def _all_gold(plays: pd.DataFrame, timezone: str = "UTC") -> dict[str, pd.DataFrame]:
    return {
        "dim_artist": gold.build_dim_artist(plays),
        "dim_album": gold.build_dim_album(plays),
        "dim_track": gold.build_dim_track(plays),
        "bridge_track_artist": gold.build_bridge_track_artist(plays),
        "dim_date": gold.build_dim_date(plays["extraction_date"]),
        "fact_recently_played": gold.build_fact(plays, timezone),
    }


def test_fixture_flattens_to_one_conformed_row_per_item(
    response_2017: dict[str, Any], plays: pd.DataFrame
) -> None:
    assert len(plays) == len(response_2017["items"]) == 20
    assert list(plays.columns) == list(tables.PLAYS.column_names)
    assert plays.dtypes.equals(empty_frame(tables.PLAYS).dtypes)
    assert not plays.duplicated(list(tables.PLAYS.primary_key)).any()
    assert plays["played_at"].is_monotonic_increasing
    assert set(plays["source"]) == {"recently_played"}
    assert set(plays["context_type"].dropna()) == {"album", "playlist"}
    assert plays["context_type"].isna().sum() == sum(
        item["context"] is None for item in response_2017["items"]
    )


def test_gold_entities_match_counts_taken_from_the_raw_json(
    response_2017: dict[str, Any], plays: pd.DataFrame
) -> None:
    raw_tracks = [item["track"] for item in response_2017["items"]]
    track_ids = {track["id"] for track in raw_tracks}
    album_ids = {track["album"]["id"] for track in raw_tracks}
    artist_ids = {
        artist["id"] for track in raw_tracks for artist in track["artists"] + track["album"]["artists"]
    }
    pairs = {(track["id"], artist["id"]) for track in raw_tracks for artist in track["artists"]}

    result = _all_gold(plays)

    assert set(result["dim_track"]["track_key"]) == track_ids
    assert set(result["dim_album"]["album_key"]) == album_ids
    assert set(result["dim_artist"]["artist_key"]) == artist_ids
    bridge = result["bridge_track_artist"]
    assert set(zip(bridge["track_key"], bridge["artist_key"], strict=True)) == pairs
    counts = (len(track_ids), len(artist_ids), len(album_ids), len(pairs))
    assert counts == (17, 12, 13, 17)
    assert (
        len(result["dim_track"]),
        len(result["dim_artist"]),
        len(result["dim_album"]),
        len(bridge),
    ) == counts
    assert len(result["fact_recently_played"]) == 20


def test_gold_tables_are_conformed_with_unique_keys(plays: pd.DataFrame) -> None:
    for name, frame in _all_gold(plays).items():
        spec = tables.TABLES[f"gold.{name}"]
        assert list(frame.columns) == list(spec.column_names), name
        assert frame.dtypes.equals(empty_frame(spec).dtypes), name
        assert not frame.duplicated(list(spec.primary_key)).any(), name
        not_null = [c.name for c in spec.columns if not c.nullable]
        assert not frame[not_null].isna().any().any(), name


def test_every_fact_key_is_in_its_dimension(plays: pd.DataFrame) -> None:
    result = _all_gold(plays)
    fact = result["fact_recently_played"]
    assert set(fact["track_key"]) <= set(result["dim_track"]["track_key"])
    assert set(fact["album_key"]) <= set(result["dim_album"]["album_key"])
    assert set(fact["primary_artist_key"]) <= set(result["dim_artist"]["artist_key"])
    assert set(fact["date_key"]) <= set(result["dim_date"]["date_key"])
    assert set(result["dim_track"]["album_key"]) <= set(result["dim_album"]["album_key"])
    assert set(result["dim_album"]["primary_artist_key"]) <= set(result["dim_artist"]["artist_key"])
    assert set(result["bridge_track_artist"]["artist_key"]) <= set(result["dim_artist"]["artist_key"])


def test_dimension_first_and_last_played(plays: pd.DataFrame) -> None:
    muse = gold.build_dim_artist(plays).set_index("artist_key").loc["12Chz98pHFMPJEknJQMWvI"]
    assert muse["name"] == "Muse"
    assert muse["artist_id"] == "12Chz98pHFMPJEknJQMWvI"
    assert muse["first_played_at"] == pd.Timestamp("2017-05-26T23:46:34.544Z")
    assert muse["last_played_at"] == pd.Timestamp("2017-05-26T23:58:30.041Z")


def test_flatten_is_deterministic(items: list[dict[str, Any]]) -> None:
    first = flatten_recently_played(items, "listener", "UTC")
    second = flatten_recently_played(list(reversed(copy.deepcopy(items))), "listener", "UTC")
    pd.testing.assert_frame_equal(first, second)
    fact_ids = gold.build_fact(first, "UTC")["play_id"]
    pd.testing.assert_series_equal(fact_ids, gold.build_fact(second, "UTC")["play_id"])


def test_duplicated_items_are_dropped(items: list[dict[str, Any]]) -> None:
    duplicated = items + copy.deepcopy(items[:5]) + copy.deepcopy(items[-2:])
    plays = flatten_recently_played(duplicated, "listener", "UTC")
    assert len(plays) == 20
    assert len(gold.build_fact(plays, "UTC")) == 20


def test_same_second_different_tracks_are_two_plays() -> None:
    at = "2024-03-01T10:00:00.000Z"
    artist = [("artist0000000000000001", "X")]
    items = [
        _item(at, "trackB0000000000000000", "B", artist),
        _item(at, "trackA0000000000000000", "A", artist),
    ]
    plays = flatten_recently_played(items, "listener", "UTC")
    assert list(plays["track_key"]) == ["trackA0000000000000000", "trackB0000000000000000"]


def test_played_at_keeps_milliseconds(plays: pd.DataFrame) -> None:
    assert str(plays["played_at"].dtype) == "datetime64[ms, UTC]"
    assert plays["played_at"].iloc[-1] == pd.Timestamp("2017-05-27T20:07:54.721Z")
    assert plays["played_at"].iloc[0] == pd.Timestamp("2017-05-26T23:46:34.544Z")


@pytest.mark.parametrize(
    ("played_at", "timezone", "extraction_date", "date_key", "hour"),
    [
        ("2017-05-27T02:00:00.000Z", "America/New_York", date(2017, 5, 26), 20170526, 22),
        ("2017-05-27T02:00:00.000Z", "UTC", date(2017, 5, 27), 20170527, 2),
        ("2017-05-26T23:30:00.000Z", "Asia/Tokyo", date(2017, 5, 27), 20170527, 8),
        ("2017-05-26T23:30:00.000Z", "Europe/London", date(2017, 5, 27), 20170527, 0),
        ("2017-05-26T12:30:00.000Z", "Pacific/Kiritimati", date(2017, 5, 27), 20170527, 2),
    ],
)
def test_extraction_date_and_hour_are_local(
    played_at: str, timezone: str, extraction_date: date, date_key: int, hour: int
) -> None:
    item = _item(played_at, "track00000000000000001", "Song", [("artist0000000000000001", "X")])
    plays = flatten_recently_played([item], "listener", timezone)
    assert plays["extraction_date"].iloc[0] == extraction_date
    fact = gold.build_fact(plays, timezone)
    assert fact["extraction_date"].iloc[0] == extraction_date
    assert (fact["date_key"].iloc[0], fact["hour_of_day"].iloc[0]) == (date_key, hour)


@pytest.mark.parametrize(
    ("index", "field"), [(0, "played_at"), (3, "played_at"), (7, "track"), (19, "track")]
)
def test_missing_required_field_names_the_item(items: list[dict[str, Any]], index: int, field: str) -> None:
    del items[index][field]
    with pytest.raises(ValueError, match=rf"item {index}\b.*'{field}'"):
        flatten_recently_played(items, "listener", "UTC")


def test_an_item_that_is_not_an_object_is_named(items: list[dict[str, Any]]) -> None:
    items[2] = None
    with pytest.raises(ValueError, match=r"item 2\b"):
        flatten_recently_played(items, "listener", "UTC")


def test_unparseable_played_at_names_the_item(items: list[dict[str, Any]]) -> None:
    items[4]["played_at"] = "yesterday"
    with pytest.raises(ValueError, match=r"item 4\b.*'played_at'"):
        flatten_recently_played(items, "listener", "UTC")


REMOVED_IN_2026 = ("popularity", "available_markets", "external_ids", "preview_url")
MORE_REMOVED = ("images", "album_type", "explicit", "disc_number", "context")


@pytest.mark.parametrize(
    ("removed", "nulled"),
    [
        (REMOVED_IN_2026, {"isrc"}),
        (
            REMOVED_IN_2026 + MORE_REMOVED,
            {
                "isrc",
                "album_image_url",
                "album_type",
                "explicit",
                "disc_number",
                "context_type",
                "context_uri",
            },
        ),
    ],
)
def test_missing_optional_fields_flatten_to_nulls(
    items: list[dict[str, Any]], plays: pd.DataFrame, removed: tuple[str, ...], nulled: set[str]
) -> None:
    for item in items:
        for owner in (item, item["track"], item["track"]["album"]):
            for name in removed:
                owner.pop(name, None)
    stripped = flatten_recently_played(items, "listener", "UTC")
    assert len(stripped) == 20
    for column in nulled:
        assert stripped[column].isna().all(), column
        assert plays[column].notna().any(), column
    same = [c for c in tables.PLAYS.column_names if c not in nulled]
    pd.testing.assert_frame_equal(stripped[same], plays[same])
    result = _all_gold(stripped)
    assert len(result["dim_track"]) == 17
    assert result["dim_track"]["isrc"].isna().all()


@pytest.mark.parametrize(
    ("images", "expected"),
    [
        ([{"url": "s", "width": 64, "height": 64}, {"url": "l", "width": 640, "height": 640}], "l"),
        ([{"url": "m", "width": 300, "height": 300}, {"url": "w", "width": 600, "height": 100}], "m"),
        ([{"url": "first", "width": None, "height": None}, {"url": "second"}], "first"),
        ([], None),
    ],
)
def test_album_image_is_the_largest(images: list[dict[str, Any]], expected: str | None) -> None:
    item = _item("2024-03-01T10:00:00.000Z", "t000000000000000000001", "S", [("a", "X")], images=images)
    url = flatten_recently_played([item], "listener", "UTC")["album_image_url"].iloc[0]
    assert (None if pd.isna(url) else url) == expected


@pytest.mark.parametrize(
    ("release_date", "year"), [("1999-05-02", 1999), ("2005-11", 2005), ("1987", 1987), (None, None)]
)
def test_release_year(release_date: str | None, year: int | None) -> None:
    item = _item(
        "2024-03-01T10:00:00.000Z", "t000000000000000000001", "S", [("a", "X")], release_date=release_date
    )
    album = gold.build_dim_album(flatten_recently_played([item], "listener", "UTC")).iloc[0]
    assert (None if pd.isna(album["release_year"]) else album["release_year"]) == year


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("Daft Punk", "daft punk"),
        ("  DAFT\t\tpunk \n", "daft punk"),
        ("Beyoncé", "beyoncé"),
        ("Beyonce\u0301", "beyoncé"),  # combining accent composes under NFKC
        ("ＡＢＢＡ", "abba"),  # full-width letters
        ("Straße", "strasse"),
        ("Sigur\u00a0Rós", "sigur rós"),  # no-break space
    ],
)
def test_normalize_name(name: str, normalized: str) -> None:
    assert keys.normalize_name(name) == normalized


def test_derived_keys() -> None:
    key = keys.derived_key("artist", "Daft Punk")
    expected = "~" + hashlib.sha1(b"artist|daft punk").hexdigest()[:21]
    assert key == expected
    assert len(key) == 22
    assert keys.derived_key("artist", "  daft   PUNK ") == key
    assert keys.derived_key("track", "Daft Punk") != key
    assert keys.derived_key("album", "Daft Punk", "Discovery") != keys.derived_key(
        "album", "Daft Punk", "Homework"
    )
    assert keys.is_derived(key) and not keys.is_derived("4tZwfgrHOc3mvqYlEYSvVi")


def test_local_files_get_name_derived_keys_equal_across_spelling() -> None:
    plays = flatten_recently_played(
        [
            _local_item("2024-03-01T10:00:00.000Z", "The Garage Tapes", "Basement Demos", "Untitled Jam"),
            _local_item("2024-03-01T10:05:00.000Z", "the  garage TAPES", "basement demos ", "UNTITLED JAM"),
        ],
        "listener",
        "UTC",
    )
    assert plays["track_key"].nunique() == 1
    assert plays["album_key"].nunique() == 1
    assert plays["track_key"].iloc[0] == keys.derived_key("track", "The Garage Tapes", "Untitled Jam")
    # The API credits no album artist for local files: the track's artist keys the album, as in the exports.
    assert plays["album_key"].iloc[0] == keys.derived_key("album", "The Garage Tapes", "Basement Demos")
    assert (
        plays["artist_keys"].iloc[0]
        == plays["artist_keys"].iloc[1]
        == [keys.derived_key("artist", "the garage tapes")]
    )
    assert plays["is_local"].all()
    assert plays["track_id"].isna().all()

    result = _all_gold(plays)
    artist = result["dim_artist"].iloc[0]
    assert len(result["dim_artist"]) == 1
    assert pd.isna(artist["artist_id"])
    assert artist["name"] == "the  garage TAPES"  # the most recent play's spelling
    track = result["dim_track"].iloc[0]
    assert bool(track["is_local"]) and pd.isna(track["track_id"])
    album = result["dim_album"].iloc[0]
    assert album["primary_artist_key"] == artist["artist_key"]


def test_is_local_inferred_from_the_uri_when_absent(plays: pd.DataFrame) -> None:
    assert not plays["is_local"].any()
    item = _local_item("2024-03-01T10:00:00.000Z", "A", "B", "C")
    del item["track"]["is_local"]
    assert flatten_recently_played([item], "listener", "UTC")["is_local"].iloc[0]


def reference_play_id(listener_id: str, played_at: pd.Timestamp, track_key: str) -> str:
    """The play key as docs/data-model.md has it, one play at a time: SHA-1 of `listener|epoch ms|track`."""
    millis = (played_at - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ms")
    return hashlib.sha1(f"{listener_id}|{millis}|{track_key}".encode()).hexdigest()[:32]


def test_play_id() -> None:
    played_at = pd.Timestamp("2017-05-27T20:07:54.721Z")
    expected = hashlib.sha1(b"me|1495915674721|1Cj2vqUwlJVG27gJrun92y").hexdigest()[:32]
    assert reference_play_id("me", played_at, "1Cj2vqUwlJVG27gJrun92y") == expected
    vectorized = keys.play_ids(
        pd.Series(["me", "me"]),
        pd.Series([played_at, played_at]).astype("datetime64[ms, UTC]"),
        pd.Series(["1Cj2vqUwlJVG27gJrun92y", "other"]),
    )
    assert vectorized.iloc[0] == expected
    assert vectorized.iloc[1] != expected


def test_fact_play_ids_are_the_key_function(plays: pd.DataFrame) -> None:
    fact = gold.build_fact(plays, "UTC")
    row = fact.iloc[5]
    assert row["play_id"] == reference_play_id(row["listener_id"], row["played_at"], row["track_key"])
    assert fact["play_id"].str.len().eq(32).all()


@pytest.mark.parametrize("newest_first", [True, False])
def test_attributes_come_from_the_most_recent_play(newest_first: bool) -> None:
    artist = ("artist0000000000000001", "Old Artist Name")
    renamed = ("artist0000000000000001", "New Artist Name")
    items = [
        _item(
            "2024-03-01T10:00:00.000Z",
            "track00000000000000001",
            "Old Title",
            [artist],
            album_name="Old Album",
        ),
        _item(
            "2024-03-03T10:00:00.000Z",
            "track00000000000000001",
            "New Title",
            [renamed],
            album_name="New Album",
        ),
        _item(
            "2024-03-02T10:00:00.000Z", "track00000000000000001", "Middle Title", [artist], album_name="Mid"
        ),
    ]
    if newest_first:
        items = [items[1], items[2], items[0]]
    plays = flatten_recently_played(items, "listener", "UTC")
    plays = plays.iloc[::-1] if newest_first else plays  # builders must not depend on row order

    track = gold.build_dim_track(plays).iloc[0]
    assert track["name"] == "New Title"
    assert track["first_played_at"] == pd.Timestamp("2024-03-01T10:00:00Z")
    assert track["last_played_at"] == pd.Timestamp("2024-03-03T10:00:00Z")
    assert gold.build_dim_album(plays).iloc[0]["name"] == "New Album"
    artist_row = gold.build_dim_artist(plays).iloc[0]
    assert artist_row["name"] == "New Artist Name"
    assert artist_row["first_played_at"] == pd.Timestamp("2024-03-01T10:00:00Z")


def test_bridge_positions_follow_credit_order_and_keep_the_first_credit() -> None:
    credits = [
        ("artistA000000000000000", "A"),
        ("artistB000000000000000", "B"),
        ("artistA000000000000000", "A"),
    ]
    older = [("artistC000000000000000", "C")]
    plays = flatten_recently_played(
        [
            _item("2024-03-01T10:00:00.000Z", "track00000000000000001", "Feat", older),
            _item("2024-03-02T10:00:00.000Z", "track00000000000000001", "Feat", credits),
            _item("2024-03-02T11:00:00.000Z", "track00000000000000002", "Solo", older),
        ],
        "listener",
        "UTC",
    )
    bridge = gold.build_bridge_track_artist(plays)
    rows = set(zip(bridge["track_key"], bridge["artist_key"], bridge["position"], strict=True))
    assert rows == {
        ("track00000000000000001", "artistA000000000000000", 0),
        ("track00000000000000001", "artistB000000000000000", 1),
        ("track00000000000000002", "artistC000000000000000", 0),
    }
    track = gold.build_dim_track(plays).set_index("track_key").loc["track00000000000000001"]
    assert track["primary_artist_key"] == "artistA000000000000000"
    # Artist C is still in dim_artist: an older play of track 1 credited it.
    assert "artistC000000000000000" in set(gold.build_dim_artist(plays)["artist_key"])


def test_fixture_bridge_positions_are_all_primary(plays: pd.DataFrame) -> None:
    bridge = gold.build_bridge_track_artist(plays)
    assert set(bridge["position"]) == {0}


@pytest.mark.parametrize(
    ("day", "date_key", "quarter", "month_name", "iso_week", "day_of_week", "is_weekend"),
    [
        (date(2017, 5, 27), 20170527, 2, "May", 21, 6, True),
        (date(2024, 2, 29), 20240229, 1, "February", 9, 4, False),
        (date(2024, 12, 30), 20241230, 4, "December", 1, 1, False),
        (date(2021, 1, 3), 20210103, 1, "January", 53, 7, True),
        (date(2025, 7, 1), 20250701, 3, "July", 27, 2, False),
    ],
)
def test_dim_date_attributes(
    day: date, date_key: int, quarter: int, month_name: str, iso_week: int, day_of_week: int, is_weekend: bool
) -> None:
    frame = gold.build_dim_date([day, day])
    assert len(frame) == 1
    row = frame.iloc[0]
    assert row["date"] == day
    assert (row["date_key"], row["year"], row["month"]) == (date_key, day.year, day.month)
    assert (row["quarter"], row["month_name"], row["iso_week"]) == (quarter, month_name, iso_week)
    assert (row["day_of_week"], bool(row["is_weekend"])) == (day_of_week, is_weekend)


def test_dim_date_is_sorted_and_unique() -> None:
    frame = gold.build_dim_date([date(2024, 1, 3), date(2024, 1, 1), date(2024, 1, 3)])
    assert list(frame["date_key"]) == [20240101, 20240103]


def test_empty_inputs_give_empty_conformed_tables() -> None:
    plays = flatten_recently_played([], "listener", "UTC")
    assert plays.empty
    assert plays.dtypes.equals(empty_frame(tables.PLAYS).dtypes)
    for name, frame in {**_all_gold(plays), "dim_date": gold.build_dim_date([])}.items():
        spec = tables.TABLES[f"gold.{name}"]
        assert frame.empty, name
        assert list(frame.columns) == list(spec.column_names), name


def test_gold_spans_several_days_and_listeners(items: list[dict[str, Any]]) -> None:
    mine = flatten_recently_played(items, "me", "UTC")
    yours = flatten_recently_played(items[:5], "you", "UTC")
    plays = pd.concat([mine, yours], ignore_index=True)
    result = _all_gold(plays)
    assert len(result["fact_recently_played"]) == 25
    assert result["fact_recently_played"]["play_id"].is_unique
    assert len(result["dim_track"]) == 17
    assert set(result["dim_date"]["date_key"]) == {20170526, 20170527}


def test_conform_casts_what_needs_it_and_never_changes_its_input() -> None:
    raw = pd.DataFrame(
        {
            "track_key": ["t1", "t2"],
            "played_at": ["2017-05-26T10:00:00.000Z", "2017-05-26T11:00:00.000Z"],
            "duration_ms": [1000.0, float("nan")],
            "artist_keys": [["a1"], float("nan")],
            "extra": [1, 2],
        },
        index=[7, 9],
    )
    frame = conform(raw, PLAYS)
    assert list(frame.columns) == list(PLAYS.column_names)
    assert list(frame.index) == [0, 1]
    assert frame["duration_ms"].dtype == "Int64" and frame["duration_ms"].isna().tolist() == [False, True]
    assert frame["artist_keys"].tolist() == [["a1"], None]  # NaN in an object column becomes None
    assert str(frame["played_at"].dtype) == "datetime64[ms, UTC]"
    assert frame["listener_id"].isna().all()  # a missing column is all null
    again = conform(frame, PLAYS)
    pd.testing.assert_frame_equal(again, frame)
    again.loc[0, "track_key"] = "changed"
    assert frame.loc[0, "track_key"] == "t1"  # an already conformed frame is not shared with the result


def test_every_gold_table_has_a_builder_and_every_builder_a_table():
    gold_specs = {spec.qualified_name for spec in tables.gold_tables()}
    assert set(gold.GOLD_BUILDERS) == gold_specs
    assert set(gold_inputs.GOLD_INPUTS) <= gold_specs
    assert all(callable(builder.build) for builder in gold.GOLD_BUILDERS.values())
