"""An odd item already stored in a raw object never blocks a later capture of its day: re-materializing
`raw/recently_played` with `dagster asset materialize`, as a user does, keeps it untouched, merges the new
plays and counts it, by reason, in the materialization's `items_excluded`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from spotify_assets.transforms.items import NO_PLAYED_AT, NO_TRACK, NOT_AN_OBJECT
from spotify_assets_tests.helpers import user_shell_env

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

DAY = "2025-06-01"
RAW = dg.AssetKey(["raw", "recently_played"])
ON_THE_DAY = f"{DAY}T12:34:56.789Z"

# (an item a hand, a script or an old version left in the object, the reason it is no play)
ODD_STORED_ITEMS: list[tuple[Any, str]] = [
    ({"played_at": "yesterday", "track": 42}, NO_TRACK),  # silver's rule looks at the track first
    ({"played_at": "yesterday", "track": 43}, NO_TRACK),  # the same played_at: not merged into one
    ({"played_at": "yesterday", "track": {"type": "track", "uri": "spotify:track:x"}}, NO_PLAYED_AT),
    ("a string where an item belongs", NOT_AN_OBJECT),
    (None, NOT_AN_OBJECT),
    ([1, 2], NOT_AN_OBJECT),
    ({"played_at": ON_THE_DAY, "track": None}, NO_TRACK),
    ({"played_at": ON_THE_DAY, "track": 42}, NO_TRACK),
    ({"played_at": 17, "track": {"type": "track", "uri": "spotify:track:x"}}, NO_PLAYED_AT),
]


def materialize_raw(cwd: Path, env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "spotify_assets.definitions",
               "--select", "raw/recently_played", "--partition", DAY]  # fmt: skip
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def excluded_of_latest_run(env: dict[str, str]) -> dict[str, int]:
    """`items_excluded` of the day's latest raw materialization, which must be of a successful run."""
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        (latest, *_) = instance.get_runs(limit=1)
        assert latest.status == dg.DagsterRunStatus.SUCCESS
        event = instance.get_latest_materialization_event(RAW)
        assert event is not None and event.run_id == latest.run_id
        materialization = event.asset_materialization
        assert materialization is not None and materialization.partition == DAY
        return materialization.metadata["items_excluded"].value  # type: ignore[return-value]


def test_odd_stored_items_are_kept_counted_and_never_block_a_capture(tmp_path, clean_warehouse):
    env = user_shell_env(tmp_path, clean_warehouse, SPOTIFY_SOURCE="sample")
    materialize_raw(tmp_path, env)
    path = tmp_path / "lake" / "raw" / "recently_played" / f"extraction_date={DAY}" / "recently_played.json"
    captured = json.loads(path.read_bytes())["items"]
    baseline = Counter(excluded_of_latest_run(env))  # what the sample itself holds that is no play
    assert len(captured) > 4

    # The object as a hand left it: half the day's plays, and odd items among them.
    kept = captured[::2]
    odd = [item for item, _ in ODD_STORED_ITEMS]
    path.write_text(json.dumps({"items": [*kept[:1], *odd, *kept[1:]]}))

    materialize_raw(tmp_path, env)

    items = json.loads(path.read_bytes())["items"]
    assert sorted(map(json.dumps, [item for item in items if item in odd])) == sorted(map(json.dumps, odd))
    assert [item for item in items if item not in odd] == captured  # the dropped plays merged back
    expected = baseline + Counter(reason for _, reason in ODD_STORED_ITEMS)
    assert excluded_of_latest_run(env) == dict(expected)

    materialize_raw(tmp_path, env)  # a capture of a day holding them changes nothing
    assert json.loads(path.read_bytes())["items"] == items
