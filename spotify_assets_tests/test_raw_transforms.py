"""Merging raw items: union by play, stored objects kept, gaps spotted."""

import copy
import json

import pytest

from spotify_assets.transforms.raw import (
    local_day,
    merge_items,
    possible_gap,
    sort_newest_first,
    split_by_day,
)


@pytest.fixture()
def recorded_items(fixtures_dir):
    path = fixtures_dir / "recently_played" / "recently_played_2017_20items.json"
    return json.loads(path.read_text())["items"]


def test_merge_of_overlapping_windows_keeps_every_play_once(recorded_items):
    older, newer = recorded_items[8:], recorded_items[:12]  # 4 items in both
    merged, added = merge_items(older, newer)
    assert len(merged) == 20
    assert added == 8
    assert merged == sort_newest_first(recorded_items)


def test_merge_never_drops_stored_items_that_aged_out(recorded_items):
    stored, _ = merge_items([], recorded_items)
    merged, added = merge_items(stored, recorded_items[:3])
    assert added == 0
    assert merged == stored


def test_merge_keeps_the_stored_object_untouched(recorded_items):
    stored = recorded_items[:2]
    refetched = copy.deepcopy(stored)
    refetched[0]["track"]["name"] = "renamed later"
    merged, _ = merge_items(stored, refetched)
    assert merged[0]["track"]["name"] == stored[0]["track"]["name"]


def test_same_second_different_tracks_are_different_plays(recorded_items):
    twin = copy.deepcopy(recorded_items[1])
    twin["played_at"] = recorded_items[0]["played_at"]
    merged, added = merge_items([recorded_items[0]], [twin])
    assert added == 1 and len(merged) == 2


@pytest.mark.parametrize(
    ("played_at", "timezone", "day"),
    [
        ("2017-05-27T20:07:54.721Z", "UTC", "2017-05-27"),
        ("2017-05-27T02:00:00.000Z", "America/New_York", "2017-05-26"),
        ("2017-05-26T23:30:00.000Z", "Europe/Berlin", "2017-05-27"),
    ],
)
def test_local_day(played_at, timezone, day):
    assert local_day({"played_at": played_at}, timezone) == day


def test_split_by_day_leaves_out_other_days(recorded_items):
    grouped = split_by_day(recorded_items, "UTC", ["2017-05-27"])
    expected = [item for item in recorded_items if item["played_at"].startswith("2017-05-27")]
    assert list(grouped) == ["2017-05-27"]
    assert grouped["2017-05-27"] == expected
    assert 0 < len(expected) < len(recorded_items)


@pytest.mark.parametrize(
    ("stored_slice", "fetched_slice", "full", "gap"),
    [
        ((10, 20), (0, 10), True, True),  # full page, all newer than anything stored
        ((5, 20), (0, 10), True, False),  # overlaps what is stored
        ((10, 20), (0, 10), False, False),  # the API reached back to the window start
        ((0, 0), (0, 10), True, True),  # nothing stored and a full page
        ((10, 20), (0, 0), True, False),  # nothing fetched
    ],
)
def test_possible_gap(recorded_items, stored_slice, fetched_slice, full, gap):
    stored = recorded_items[slice(*stored_slice)]
    fetched = recorded_items[slice(*fetched_slice)]
    assert possible_gap(stored, fetched, full) is gap
