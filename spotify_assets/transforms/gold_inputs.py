"""What each gold table's builder (`gold.GOLD_BUILDERS`) takes for each day, when it is not the day's silver
plays, and which of silver's columns it reads: the gold assets take their shape from it when the Dagster
definitions load, without the builders (pandas), which a step imports."""

from typing import Literal

from spotify_assets.contracts.export_kinds import EXPORT_COLUMNS
from spotify_assets.contracts.tables import (
    BRIDGE_TRACK_ARTIST,
    DIM_ALBUM,
    DIM_ARTIST,
    DIM_DATE,
    DIM_TRACK,
    FACT_RECENTLY_PLAYED,
    KEY_MAP,
    TableSpec,
)

BuildFrom = Literal["plays", "plays_in_timezone", "days"]
"""What a gold builder takes for each day: the day's silver plays; the plays and the partitions' time zone;
or the day (as a one-element list of dates)."""

GOLD_INPUTS: dict[str, BuildFrom] = {
    DIM_DATE.qualified_name: "days",
    FACT_RECENTLY_PLAYED.qualified_name: "plays_in_timezone",
}
"""The gold tables whose builder takes more than, or other than, the day's plays, by `schema.table`."""

# Who played what when: every builder orders plays by recency (played_at, listener, track) within a day.
_PLAY = ("listener_id", "played_at", "extraction_date", "track_key")
ALBUM_ATTRIBUTES = (
    "album_id",
    "album_name",
    "album_type",
    "album_release_date",
    "album_total_tracks",
    "album_image_url",
    "album_artist_keys",
    "artist_keys",
)
"""The silver columns `dim_album` takes from an album's most recent play."""
TRACK_ATTRIBUTES = (
    "track_id",
    "track_name",
    "duration_ms",
    "explicit",
    "isrc",
    "is_local",
    "album_key",
    "artist_keys",
)
"""The silver columns `dim_track` takes from a track's most recent play."""
ID_PAIR_INPUTS = (
    "extraction_date",
    "played_at",
    "source",
    "track_id",
    "track_name",
    "album_id",
    "album_name",
    "artist_ids",
    "artist_names",
    "album_artist_keys",
    "album_artist_names",
)
"""The silver columns the key map pairs derived keys with Spotify ids from (`key_convergence`)."""

SILVER_COLUMNS: dict[str, tuple[str, ...]] = {
    DIM_ARTIST.qualified_name: (
        *_PLAY,
        "artist_keys",
        "artist_names",
        "album_artist_keys",
        "album_artist_names",
    ),
    DIM_ALBUM.qualified_name: (*_PLAY, "album_key", *ALBUM_ATTRIBUTES),
    DIM_TRACK.qualified_name: (*_PLAY, *TRACK_ATTRIBUTES),
    BRIDGE_TRACK_ARTIST.qualified_name: (*_PLAY, "artist_keys", "artist_names"),
    FACT_RECENTLY_PLAYED.qualified_name: (
        *_PLAY,
        "album_key",
        "artist_keys",
        "context_type",
        "context_uri",
        "duration_ms",
        *EXPORT_COLUMNS,
        "source",
    ),
    KEY_MAP.qualified_name: ID_PAIR_INPUTS,
}
"""The silver columns each builder of plays reads, by `schema.table`: its asset loads only these from the
lake (a quarter of silver's columns, for most). A table without an entry reads every column."""


def build_from(spec: TableSpec) -> BuildFrom:
    """What `spec`'s builder takes for each day (`plays` unless `GOLD_INPUTS` says otherwise)."""
    return GOLD_INPUTS.get(spec.qualified_name, "plays")


def silver_columns(spec: TableSpec) -> tuple[str, ...] | None:
    """The silver columns `spec`'s builder reads (None: all of them)."""
    return SILVER_COLUMNS.get(spec.qualified_name)
