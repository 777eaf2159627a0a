"""Importing exports in tests: export files, plays as an export logs them, a run of raw, silver and gold."""

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg

from spotify_assets.definitions import build_definitions
from spotify_assets.sources.resource import SpotifyResource


def run(settings, first: date, last: date, *, api_plays: bool = False, raise_on_error: bool = True):
    """Raw, silver and gold (with their checks) for first..last as one run; no API plays unless asked."""
    defs = build_definitions(settings)
    resources = dict(defs.resources)
    if not api_plays:
        resources["spotify"] = SpotifyResource(source="sample", listener_id="me", sample_plays_per_day=0)
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=dg.AssetSelection.groups("raw", "silver", "gold"),
        resources=resources,
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
    )
    assert result.success or not raise_on_error
    return result


def metadata(result, asset: str, partition: str) -> dict:
    event = next(
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == asset and e.partition == partition
    )
    return {key: value.value for key, value in event.materialization.metadata.items()}


def write_export(folder: Path, name: str, rows: list) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return path


def export_copy(item: dict, offset_s: int) -> dict:
    """The play as the Extended Streaming History logs it: stop time to the second, a few seconds off."""
    track = item["track"]
    played_at = datetime.fromisoformat(item["played_at"].replace("Z", "+00:00")) + timedelta(seconds=offset_s)
    return {
        "ts": played_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": "linux",
        "ms_played": 200_000 + offset_s,
        "conn_country": "DE",
        "ip_addr": "192.0.2.1",
        "master_metadata_track_name": track["name"],
        "master_metadata_album_artist_name": track["artists"][0]["name"],
        "master_metadata_album_album_name": track["album"]["name"],
        "spotify_track_uri": track["uri"],
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "reason_start": "trackdone",
        "reason_end": "trackdone",
        "shuffle": True,
        "skipped": False,
        "offline": False,
        "offline_timestamp": None,
        "incognito_mode": False,
    }
