"""Odd items never block a day: each odd recently-played item (or export row) beside normal plays, through
the live path (a local Spotify over HTTP), raw, silver, gold and the report, in one real Dagster run."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from spotify_assets.contracts.text import REPLACEMENT
from spotify_assets.transforms.items import (
    EPISODE,
    NO_PLAYED_AT,
    NO_TRACK,
    NOT_A_TRACK,
    NOT_AN_OBJECT,
    play_items,
)
from spotify_assets_tests.helpers import make_settings, materialize, warehouse_tables
from spotify_assets_tests.history_runs import export_copy, metadata, run, write_export

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

DAY = date(2017, 5, 27)
ODD_PLAYED_AT = "2017-05-27T12:34:56.789Z"  # no normal play of the day at that instant
REPORT_CHARTS = ("hour_of_day", "daily_minutes", "top_artists", "top_tracks")


@pytest.fixture()
def day_plays(fixtures_dir) -> list[dict[str, Any]]:
    path = fixtures_dir / "recently_played" / "recently_played_2017_20items.json"
    items = json.loads(path.read_text())["items"]
    return [item for item in items if item["played_at"].startswith(DAY.isoformat())]


def renamed(item: dict, track: str, artist: str | None = None, local: bool = False) -> dict:
    odd = copy.deepcopy(item)
    odd["played_at"] = ODD_PLAYED_AT
    odd["track"].update(name=track, id="0ddTrack0000000000000a", uri="spotify:track:0ddTrack0000000000000a")
    if artist is not None:
        odd["track"]["artists"][0]["name"] = artist
        odd["track"]["artists"][0]["id"] = None
    if local:  # a local file: no ids, names from its tags
        odd["track"].update(id=None, uri="spotify:local:Tagged:Album:Track:200", is_local=True)
    return odd


def no_track(item: dict) -> dict:
    return {"played_at": ODD_PLAYED_AT, "context": None, "track": None}


def episode(item: dict) -> dict:
    odd = copy.deepcopy(item)
    odd["played_at"] = ODD_PLAYED_AT
    odd["track"].update(
        type="episode", uri="spotify:episode:512ojhOuo1ktJprKbVcKyQ", id="512ojhOuo1ktJprKbVcKyQ"
    )
    return odd


# (odd item from a normal one, reason it is excluded or None for a play, the track name silver and gold keep)
ODD_ITEMS: dict[str, tuple[Callable[[dict], dict], str | None, str | None]] = {
    "nul_in_local_file_tags": (
        lambda item: renamed(item, "Tag\x00ged", "Art\x00ist", local=True),
        None,
        f"Tag{REPLACEMENT}ged",
    ),
    "no_track": (no_track, NO_TRACK, None),
    "episode": (episode, EPISODE, None),
    "lone_surrogate": (lambda item: renamed(item, "Broken \ud800 name"), None, f"Broken {REPLACEMENT} name"),
    "newline_and_carriage_return": (
        lambda item: renamed(item, "First line\nsecond line", "Carriage\rreturn"),
        None,
        "First line\nsecond line",
    ),
}


@pytest.mark.parametrize("case", list(ODD_ITEMS))
def test_an_odd_item_never_blocks_its_day(case, tmp_path, clean_warehouse, fake_spotify, live_env, day_plays):
    make_odd, reason, stored_name = ODD_ITEMS[case]
    odd = make_odd(day_plays[3])
    fake_spotify.items = [*copy.deepcopy(day_plays), odd]
    settings = make_settings(tmp_path, clean_warehouse, spotify_source="live")

    result = materialize(settings, DAY)  # raises unless every asset and blocking check passed

    tables = warehouse_tables(clean_warehouse)
    plays, fact = tables["silver.plays"], tables["gold.fact_recently_played"]
    expected = len(day_plays) + (reason is None)
    assert len(plays) == len(fact) == expected
    normal = {(item["played_at"], item["track"]["uri"]) for item in day_plays}
    stored = {
        (played_at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{played_at.microsecond // 1000:03d}Z", uri)
        for played_at, uri in zip(plays["played_at"], plays["track_uri"], strict=True)
    }
    assert normal <= stored  # every normal play of the day reached silver, and the fact holds the same plays
    silver_meta = metadata(result, "silver/plays", DAY.isoformat())
    assert silver_meta["items_excluded"] == ({reason: 1} if reason else {})
    if stored_name is not None:
        assert stored_name in set(tables["gold.dim_track"]["name"])  # exactly, or with U+FFFD for NUL
    raw = json.loads(
        (tmp_path / "lake" / "raw" / "recently_played" / f"extraction_date={DAY}" / "recently_played.json")
        .read_bytes()
        .decode("utf-8")
    )
    assert len(raw["items"]) == len(day_plays) + 1  # raw keeps the odd item too
    report = tmp_path / "lake" / "report" / "listening" / f"extraction_date={DAY}"
    assert sorted(path.stem for path in report.glob("*.png")) == sorted(REPORT_CHARTS)


def test_a_lone_surrogate_is_stored_as_the_replacement_character_and_nothing_else_changes(
    tmp_path, clean_warehouse, fake_spotify, live_env, day_plays
):
    odd = renamed(day_plays[3], "Broken \ud800 name")
    fake_spotify.items = [*copy.deepcopy(day_plays), odd]
    materialize(make_settings(tmp_path, clean_warehouse, spotify_source="live"), DAY)
    path = tmp_path / "lake" / "raw" / "recently_played" / f"extraction_date={DAY}" / "recently_played.json"
    items = json.loads(path.read_bytes().decode("utf-8"))["items"]
    by_time = {item["played_at"]: item for item in items}
    expected_odd = json.loads(json.dumps(odd).replace("\\ud800", "\\ufffd"))
    assert by_time.pop(ODD_PLAYED_AT) == expected_odd
    assert by_time == {item["played_at"]: item for item in day_plays}  # the others exactly as sent


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (None, NOT_AN_OBJECT),
        (7, NOT_AN_OBJECT),
        ({"track": {"type": "track", "uri": "spotify:track:x"}}, NO_PLAYED_AT),
        ({"played_at": "yesterday", "track": {"type": "track"}}, NO_PLAYED_AT),
        ({"played_at": ODD_PLAYED_AT, "track": None}, NO_TRACK),
        ({"played_at": ODD_PLAYED_AT}, NO_TRACK),
        ({"played_at": ODD_PLAYED_AT, "track": {"type": "episode", "uri": "spotify:episode:e"}}, EPISODE),
        ({"played_at": ODD_PLAYED_AT, "track": {"type": "ad"}}, NOT_A_TRACK),
    ],
)
def test_each_odd_item_is_excluded_with_its_reason(day_plays, item, reason):
    plays, excluded = play_items([*day_plays[:2], item, *day_plays[2:]])
    assert plays == day_plays
    assert excluded == {reason: 1}


def test_odd_export_rows_never_block_their_day(tmp_path, clean_warehouse, day_plays):
    rows = [export_copy(item, 1) for item in day_plays]
    nul = {**rows[0], "ts": "2017-05-27T12:00:00Z", "master_metadata_track_name": "Tag\x00ged"}
    surrogate = {**rows[1], "ts": "2017-05-27T12:10:00Z", "master_metadata_track_name": "Broken \ud800 name"}
    newline = {**rows[2], "ts": "2017-05-27T12:20:00Z", "master_metadata_album_artist_name": "Line\nbreak"}
    for number, row in enumerate((nul, surrogate, newline)):  # tracks of their own: their names are kept
        row["spotify_track_uri"] = f"spotify:track:0ddTrack000000000000{number:02d}"
    podcast = {
        **rows[3],
        "ts": "2017-05-27T12:30:00Z",
        "master_metadata_track_name": None,
        "master_metadata_album_artist_name": None,
        "master_metadata_album_album_name": None,
        "spotify_track_uri": None,
        "episode_name": "An episode",
        "episode_show_name": "A show",
        "spotify_episode_uri": "spotify:episode:512ojhOuo1ktJprKbVcKyQ",
    }
    write_export(
        tmp_path / "export", "Streaming_History_Audio_2017.json", [*rows, nul, surrogate, newline, podcast]
    )
    settings = make_settings(tmp_path, clean_warehouse, history_dir=str(tmp_path / "export"))
    result = run(settings, DAY, DAY)

    tables = warehouse_tables(clean_warehouse)
    assert len(tables["silver.plays"]) == len(tables["gold.fact_recently_played"]) == len(rows) + 3
    names = set(tables["gold.dim_track"]["name"])
    assert {f"Tag{REPLACEMENT}ged", f"Broken {REPLACEMENT} name"} <= names
    assert "Line\nbreak" in set(tables["gold.dim_artist"]["name"])
    assert metadata(result, "silver/plays", DAY.isoformat())["history_podcast_rows"] == 1
