"""`spotify-assets listeners --remove NAME --delete-plays`: a listener's plays out of the lake and warehouse.

Their raw objects (recently played and imported exports) and their report charts are deleted from the lake
(a day that only they had keeps an empty recently-played object of theirs, so that it builds empty); then
silver, gold and the report of every day they had raw objects are materialized again from the other
listeners' raw objects (one `dagster asset materialize` per range of consecutive days, no Spotify call), which
replaces those days in the lake and the warehouse. Rows of tracks, albums and artists that only they played
stay in the dimensions (a dimension row names no listener): `spotify-assets rebuild gold/dim_track` (and
`gold/dim_album`, `gold/dim_artist`, `gold/bridge_track_artist`) removes them.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence

from spotify_assets.assets.resources import build_lake
from spotify_assets.contracts.listener_scope import listener_asset_path
from spotify_assets.contracts.settings import Settings
from spotify_assets.operations.quiet_run import run_quietly
from spotify_assets.operations.rebuild import day_ranges
from spotify_assets.operations.topology import DEFINITIONS_MODULE
from spotify_assets.storage.lake import PARTITION_COLUMN, LakeResource

RAW_PATHS = (("raw", "recently_played"), ("raw", "streaming_history"))
REPORT_PATH = ("report", "listening")
REBUILT_SELECTION = "silver/plays*"
"""Silver and everything downstream (gold, the report, their checks): never raw, so nobody is captured."""


def listener_objects(lake: LakeResource, name: str) -> list[str]:
    """Every lake object of listener `name`: their raw objects and their report charts, sorted."""
    paths = [listener_asset_path(path, name) for path in RAW_PATHS]
    paths.append([*REPORT_PATH, f"listener={name}"])
    return sorted(key for path in paths for key in lake.list_keys("/".join(path) + "/"))


def raw_days(keys: Sequence[str]) -> list[str]:
    """The days of the raw objects among `keys`, sorted."""
    marker = f"/{PARTITION_COLUMN}="
    return sorted(
        {
            key.partition(marker)[2].partition("/")[0]
            for key in keys
            if key.startswith("raw/") and marker in key
        }
    )


EMPTY_CAPTURE = b'{"items":[]}'


def orphaned_days(lake: LakeResource, name: str, days: Sequence[str]) -> list[str]:
    """The keys of `name`'s recently-played objects to write empty: on the days no other listener has one,
    so that silver, which requires a recently-played object on every day it builds, builds them empty."""
    path = RAW_PATHS[0]
    covered = set(raw_days(lake.list_keys("/".join(path) + "/")))
    filename = f"{path[-1]}.json"
    return [
        lake.partition_path(listener_asset_path(path, name), day, filename)
        for day in days
        if day not in covered
    ]


def rebuild_commands(days: Sequence[str]) -> list[list[str]]:
    """`dagster asset materialize` of silver and everything downstream, one single run per range of days."""
    return [
        [
            "dagster",
            "asset",
            "materialize",
            "-m",
            DEFINITIONS_MODULE,
            "--select",
            REBUILT_SELECTION,
            "--partition-range",
            f"{first}...{last}",
        ]  # fmt: skip
        for first, last in day_ranges(days)
    ]


def _run_quietly(command: list[str]) -> int:
    """One rebuild run with progress lines only, its Dagster log in DAGSTER_HOME/logs."""
    return run_quietly(command, "purge")


def delete_plays(
    settings: Settings,
    name: str,
    print_fn: Callable[[str], None] = print,
    run: Callable[[list[str]], int] = _run_quietly,
) -> int:
    """Delete listener `name`'s lake objects and rebuild the days they had plays; the exit code."""
    lake = build_lake(settings)
    keys = listener_objects(lake, name)
    if not keys:
        print_fn(f"The lake holds no objects of listener {name}: nothing to delete.")
        return 0
    days = raw_days(keys)
    commands = rebuild_commands(days)
    for key in keys:
        lake.delete(key)
    for key in orphaned_days(lake, name, days):  # silver needs a recently-played object on each day
        lake.write_bytes(key, EMPTY_CAPTURE)
    print_fn(
        f"Deleted {len(keys)} lake object(s) of listener {name}; rebuilding {len(days)} day(s) without them:"
    )
    for command in commands:
        print_fn(f"  {shlex.join(command)}")
        code = run(command)
        if code != 0:
            print_fn(
                f"The run failed (exit {code}): the warehouse may still hold {name}'s plays of those days. "
                "Their raw objects are gone already: run the commands above again once the cause is fixed."
            )
            return code
    print_fn(
        f"Listener {name}'s plays are out of silver, the fact and the report. Dimension rows of what only "
        "they played stay: `spotify-assets rebuild gold/dim_track` (and dim_album, dim_artist, "
        "bridge_track_artist) removes them."
    )
    return 0
