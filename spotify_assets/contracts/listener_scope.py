"""Which listeners a run covers, what a listener may be named, and where their raw objects live in the lake.

Every asset keeps its daily partitions; listeners are a scope of the run and a column of the data:
- a run tagged `spotify_assets/listener=<name>` captures (and imports) that listener only: the capture
  schedule launches one such run per listener per tick, so one listener's bad token fails only their runs;
- a run without the tag covers the household: the default listener (the single-listener install's token, or
  the sample) and every registered listener (keys of the dynamic partitions definition `listener`).
Silver and gold always rebuild a day from every listener's raw objects: a re-run never drops anyone's plays.

Raw objects of the default listener keep the single-listener keys
(`raw/recently_played/extraction_date=<day>/recently_played.json`); a registered listener's sit under
`raw/recently_played/listener=<name>/extraction_date=<day>/recently_played.json`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

LISTENER_TAG = "spotify_assets/listener"
DEFAULT_LISTENER = "default"
"""The single-listener install's listener (SPOTIFY_TOKEN_FILE / SPOTIFY_REFRESH_TOKEN, or the sample)."""
LISTENER_PARTITIONS = "listener"
"""The dynamic partitions definition whose keys are the registered listeners (the household's registry)."""
LISTENER_FOLDER = "listener="
LISTENER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class ListenerError(ValueError):
    """A listener name that is invalid, unknown, or taken by another Spotify user."""


def check_listener_name(name: str) -> str:
    """`name` if it can be a partition key and a file name, else a ListenerError saying what is allowed."""
    if name == DEFAULT_LISTENER:
        raise ListenerError(
            f"{name!r} is the single-listener install's listener (SPOTIFY_TOKEN_FILE): give another name."
        )
    if not LISTENER_NAME.fullmatch(name) or ".." in name:
        raise ListenerError(
            f"{name!r} cannot be a listener name: use 1 to 64 letters, digits, `_`, `-` or `.`, starting "
            "with a letter or digit (no `..`), e.g. `alice` or `bob-2`."
        )
    return name


class ListenerPayloads(dict[str, Any]):
    """One raw partition's payload per listener (`DEFAULT_LISTENER` for the single-listener objects)."""


def listener_asset_path(asset_path: Sequence[str], listener: str) -> list[str]:
    """The lake path of `listener`'s objects of an asset: the asset's own for the default listener."""
    if listener == DEFAULT_LISTENER:
        return list(asset_path)
    return [*asset_path, f"{LISTENER_FOLDER}{listener}"]


def listeners_in_keys(asset_path: Sequence[str], keys: Iterable[str]) -> list[str]:
    """The registered listeners that have objects among lake `keys` of an asset, sorted."""
    prefix = "/".join([*asset_path, LISTENER_FOLDER])
    return sorted({key[len(prefix) :].partition("/")[0] for key in keys if key.startswith(prefix)})


def listeners_of_run(
    tags: Mapping[str, str], registered: Sequence[str], default_has_token: bool
) -> list[str]:
    """The listeners a run covers: the tagged one, else the default listener (when it has a token, or when
    nobody is registered, so that a single-listener install's errors stay as they are) and every registered
    one. ValueError for a tag naming nobody."""
    tagged = tags.get(LISTENER_TAG)
    if tagged is not None:
        if tagged != DEFAULT_LISTENER and tagged not in registered:
            known = ", ".join([DEFAULT_LISTENER, *registered])
            raise ValueError(
                f"run tag {LISTENER_TAG}={tagged!r} names no listener (known: {known}); add one with "
                f"`spotify-assets auth --listener {tagged}`"
            )
        return [tagged]
    household = [DEFAULT_LISTENER] if default_has_token or not registered else []
    return household + sorted(registered)
