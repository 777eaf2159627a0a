"""A batch of days held as one frame: each day's rows as given, in day order, its Arrow table made once."""

import pandas as pd
import pytest

from spotify_assets.contracts.table_frames import DayFrames, empty_frame, to_arrow, whole_frame
from spotify_assets.contracts.tables import PLAYS
from spotify_assets_tests.lake_frames import plays_frame

DAYS = ["2026-11-25", "2026-11-26", "2026-11-27"]


@pytest.fixture
def frames() -> dict[str, pd.DataFrame]:
    """Three days out of order, the middle one without rows."""
    return {
        "2026-11-27": plays_frame("2026-11-27", 3),
        "2026-11-25": plays_frame("2026-11-25", 2),
        "2026-11-26": empty_frame(PLAYS),
    }


def test_a_batch_keeps_each_days_rows_in_day_order(frames):
    batch = DayFrames.of(frames, PLAYS)
    assert list(batch) == DAYS
    assert batch.counts == {"2026-11-25": 2, "2026-11-26": 0, "2026-11-27": 3}
    for day in DAYS:
        pd.testing.assert_frame_equal(batch[day], frames[day].reset_index(drop=True), check_dtype=False)
    assert batch.row_days().tolist() == ["2026-11-25"] * 2 + ["2026-11-27"] * 3
    assert whole_frame(batch) is batch.whole
    assert DayFrames.of(batch) is batch  # already in day order: taken as it is


def test_its_arrow_table_is_made_once_and_each_day_is_a_slice_of_it(frames):
    batch = DayFrames.of(frames, PLAYS)
    table = batch.arrow(PLAYS)
    assert batch.arrow(PLAYS) is table
    days = dict(batch.arrow_days(PLAYS))
    assert {day: part.num_rows for day, part in days.items()} == batch.counts
    assert days["2026-11-27"].equals(to_arrow(frames["2026-11-27"], PLAYS))


def test_rows_split_by_their_days_and_a_row_of_another_day_is_refused(frames):
    whole = DayFrames.of(frames, PLAYS).whole
    row_days = whole["extraction_date"].astype(str).to_numpy()
    split = DayFrames.split(whole, row_days, DAYS)
    assert split.counts == {"2026-11-25": 2, "2026-11-26": 0, "2026-11-27": 3}
    with pytest.raises(ValueError, match="3 rows belong to none of the days 2026-11-25..2026-11-26"):
        DayFrames.split(whole, row_days, DAYS[:2])
    with pytest.raises(ValueError, match="5 rows for days holding 4"):
        DayFrames(whole, {"2026-11-25": 2, "2026-11-27": 2})
