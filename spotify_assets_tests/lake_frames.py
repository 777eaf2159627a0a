"""Lake test data: a small silver.plays frame of a day."""

from datetime import date

import pandas as pd

from spotify_assets.contracts.table_frames import conform
from spotify_assets.contracts.tables import PLAYS

DAY = "2026-11-27"


def plays_frame(day: str, rows: int) -> pd.DataFrame:
    """A small silver.plays frame for one day."""
    played_at = pd.date_range(f"{day}T08:00:00Z", periods=rows, freq="37min")
    nulls = {name: [None] * rows for name in PLAYS.column_names}
    frame = pd.DataFrame(
        nulls
        | {
            "listener_id": "demo",
            "played_at": played_at,
            "extraction_date": date.fromisoformat(day),
            "source": "recently_played",
            "track_key": [f"t{i}" for i in range(rows)],
            "album_key": "album",
            "artist_names": [["Ólafur Arnalds", 'The "Band", Inc.']] * rows,
        }
    )
    return conform(frame, PLAYS)
