"""Merging raw items: union by play, stored objects kept, gaps spotted."""

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest

from spotify_assets.contracts.raw_merge import newest_first
from spotify_assets.transforms.raw import (
    gap_days,
    gap_reference,
    local_day,
    merge_items,
    newest_played_at,
    next_checked_through,
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
    assert merged == newest_first(recorded_items)


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


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


DAYS = ["2026-03-01", "2026-03-02", "2026-03-03"]


@pytest.mark.parametrize(
    ("reference", "oldest", "full", "timezone", "days"),
    [
        ("2026-03-02 10:00", "2026-03-02 12:00", True, "UTC", ["2026-03-02"]),  # within one day
        (
            "2026-03-01 23:50",
            "2026-03-02 00:10",
            True,
            "UTC",
            ["2026-03-01", "2026-03-02"],
        ),  # across midnight
        ("2026-03-02 00:00", "2026-03-02 00:10", True, "UTC", ["2026-03-02"]),  # from midnight exactly
        ("2026-03-01 20:00", "2026-03-03 01:00", True, "UTC", DAYS),  # a long outage
        ("2026-03-02 10:00", "2026-03-02 12:00", False, "UTC", []),  # the API reached back: nothing lost
        ("2026-03-02 12:00", "2026-03-02 12:00", True, "UTC", []),  # reaches back to the reference exactly
        ("2026-03-02 12:00", "2026-03-02 10:00", True, "UTC", []),  # overlaps what is known
        ("2026-03-02 12:00", None, True, "UTC", []),
        ("2026-03-02 04:50", "2026-03-02 05:10", True, "America/New_York", ["2026-03-01", "2026-03-02"]),
        ("2026-03-01 18:20", "2026-03-01 18:40", True, "Asia/Kolkata", ["2026-03-01", "2026-03-02"]),
    ],
)
def test_gap_days(reference, oldest, full, timezone, days):
    oldest_at = at(oldest) if oldest else None
    assert gap_days(at(reference), oldest_at, full, DAYS, timezone) == days


def test_gap_days_are_only_the_runs_days():
    assert gap_days(at("2026-02-27 10:00"), at("2026-03-04 10:00"), True, DAYS[1:], "UTC") == DAYS[1:]


@pytest.mark.parametrize(
    ("stored", "checked", "reference"),
    [
        (None, None, "2026-03-02 00:00"),  # nothing known: the window's start
        ("2026-03-02 09:00", None, "2026-03-02 09:00"),
        ("2026-03-02 09:00", "2026-03-02 11:00", "2026-03-02 11:00"),
        ("2026-03-02 11:30", "2026-03-02 11:00", "2026-03-02 11:30"),
        (None, "2026-03-01 23:00", "2026-03-02 00:00"),  # never before the window
    ],
)
def test_gap_reference(stored, checked, reference):
    found = gap_reference(
        at("2026-03-02 00:00"), at(stored) if stored else None, at(checked) if checked else None
    )
    assert found == at(reference)


def test_newest_played_at(recorded_items):
    assert newest_played_at(recorded_items) == max(
        datetime.fromisoformat(item["played_at"].replace("Z", "+00:00")) for item in recorded_items
    )
    assert newest_played_at([]) is None


@pytest.mark.parametrize(
    ("previous", "window", "answered", "through"),
    [
        (None, ("2026-03-02 00:00", "2026-03-03 00:00"), "2026-03-02 10:00", "2026-03-02 09:45"),
        (
            "2026-03-02 09:45",
            ("2026-03-01 00:00", "2026-03-03 00:00"),
            "2026-03-02 10:00",
            "2026-03-02 09:45",
        ),
        (
            "2026-03-02 09:30",
            ("2026-03-02 00:00", "2026-03-03 00:00"),
            "2026-03-02 10:00",
            "2026-03-02 09:45",
        ),
        # a finished day fetched well after its end is checked to its end
        (
            "2026-03-01 23:45",
            ("2026-03-01 00:00", "2026-03-02 00:00"),
            "2026-03-02 00:30",
            "2026-03-02 00:00",
        ),
        # an old day re-run does not move the time back
        (
            "2026-03-02 09:45",
            ("2026-02-01 00:00", "2026-02-02 00:00"),
            "2026-03-02 10:00",
            "2026-03-02 09:45",
        ),
        # a run of a later day alone does not vouch for the time before its window
        (
            "2026-03-01 20:00",
            ("2026-03-02 00:00", "2026-03-03 00:00"),
            "2026-03-02 10:00",
            "2026-03-01 20:00",
        ),
    ],
)
def test_next_checked_through(previous, window, answered, through):
    found = next_checked_through(
        at(previous) if previous else None, at(window[0]), at(window[1]), at(answered), timedelta(minutes=15)
    )
    assert found == at(through)


def test_items_without_a_valid_played_at_belong_to_no_day(recorded_items):
    odd = [{"track": None}, {"played_at": "yesterday"}, "not an object", {"played_at": None}]
    grouped = split_by_day([*odd, *recorded_items], "UTC", ["2017-05-27"])
    assert grouped["2017-05-27"] == split_by_day(recorded_items, "UTC", ["2017-05-27"])["2017-05-27"]
    assert newest_played_at([*odd, recorded_items[0]]) == newest_played_at(recorded_items[:1])


@pytest.mark.parametrize(
    "odd",
    [
        {"played_at": "yesterday", "track": 42},
        {"played_at": "2017-05-27T12:00:00Z", "track": 42},
        {"played_at": "2017-05-27T12:00:00Z", "track": "spotify:track:x"},
        {"played_at": 17, "track": {"uri": "spotify:track:x"}},
        "a string",
        None,
        [1, 2],
    ],
)
def test_a_stored_item_the_merge_cannot_read_is_kept_once_beside_the_plays(recorded_items, odd):
    stored = [*recorded_items[5:], odd, copy.deepcopy(odd)]  # twice: one JSON text, kept once
    merged, added = merge_items(stored, [*recorded_items[:8], copy.deepcopy(odd)])
    assert added == 5
    assert [item for item in merged if item == odd] == [odd]
    assert [item for item in merged if item != odd] == newest_first(recorded_items)
