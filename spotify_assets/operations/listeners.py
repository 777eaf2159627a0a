"""Several listeners: who they are (keys of the dynamic partitions definition `listener` in the Dagster
instance) and their Spotify tokens (one file per listener, `SPOTIFY_TOKEN_DIR/<listener>.json`, mode 0600).

`spotify-assets auth --listener NAME` authorises a listener and registers them; `spotify-assets listeners`
lists them; `spotify-assets listeners --remove NAME` unregisters one and deletes their token (their captured
plays stay). The single-listener token (SPOTIFY_TOKEN_FILE, written by plain `spotify-assets auth`) is listed
as the default listener and is never a partition key here.

A listener name is a partition key and a file name: `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}` without `..` (Dagster
reads `...` as a range, and `|` joins the keys of a multi-partition).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from spotify_assets.assets.resources import build_lake
from spotify_assets.contracts.listener_scope import (
    LISTENER_PARTITIONS,
    ListenerError,
    check_listener_name,
)
from spotify_assets.contracts.settings import Settings, secret_value
from spotify_assets.operations.instance_config import dagster_home, write_instance_yaml
from spotify_assets.quality.capture_rules import TOKEN_WARNING_LEAD
from spotify_assets.sources.token_store import (
    StoredToken,
    load_token,
    read_token_file,
    reauthorization_due,
    token_dir,
    token_path,
)

AUTH_LISTENER_COMMAND = "spotify-assets auth --listener"

OK = "ok"
DUE_SOON = "re-authorise soon"
EXPIRED = "expired"
NO_TOKEN_FILE = "no token file"
BROKEN_TOKEN_FILE = "broken token file"
NO_REFRESH_TOKEN = "no refresh token"
INVALID_NAME = "invalid name: remove it"


@dataclass(frozen=True)
class Listener:
    """One listener as `spotify-assets listeners` shows it; `state` is the token's (ok, expired, ...)."""

    name: str
    token_file: Path
    state: str
    user_id: str | None = None
    authorized_at: datetime | None = None
    reauthorization_due: datetime | None = None
    registered: bool = True
    default: bool = False


def _is_name(name: str) -> bool:
    try:
        check_listener_name(name)
    except ListenerError:
        return False
    return True


def listener_token_path(settings: Settings, name: str) -> Path:
    """The token file of listener `name`: SPOTIFY_TOKEN_DIR/<name>.json."""
    return token_dir(settings) / f"{check_listener_name(name)}.json"


@contextlib.contextmanager
def listener_instance(settings: Settings) -> Iterator[dg.DagsterInstance]:
    """The project's Dagster instance (DAGSTER_HOME, default ./data/dagster_home), whose dagster.yaml is
    generated from the settings first when there is none, so that keys land where the daemon looks."""
    home = dagster_home()
    os.environ["DAGSTER_HOME"] = str(home)
    if not (home / "dagster.yaml").is_file():
        write_instance_yaml(home, settings)
    with dg.DagsterInstance.get() as instance:
        yield instance


def describe(name: str, path: Path, *, registered: bool, now: datetime, default: bool = False) -> Listener:
    """A listener and the state of its token file, never an exception for a missing or broken file."""
    try:
        stored = read_token_file(path)
    except (ValueError, OSError):
        return Listener(name, path, BROKEN_TOKEN_FILE, registered=registered, default=default)
    if stored is None:
        return Listener(name, path, NO_TOKEN_FILE, registered=registered, default=default)
    return _with_token(name, path, stored, registered=registered, now=now, default=default)


def _with_token(
    name: str, path: Path, stored: StoredToken, *, registered: bool, now: datetime, default: bool
) -> Listener:
    due = reauthorization_due(stored.authorized_at) if stored.authorized_at else None
    return Listener(
        name,
        path,
        _state(stored, due, now),
        user_id=stored.user_id,
        authorized_at=stored.authorized_at,
        reauthorization_due=due,
        registered=registered,
        default=default,
    )


def _state(stored: StoredToken, due: datetime | None, now: datetime) -> str:
    if not stored.refresh_token:
        return NO_REFRESH_TOKEN
    if due is not None and now >= due:
        return EXPIRED
    if due is not None and now >= due - TOKEN_WARNING_LEAD:
        return DUE_SOON
    return OK


def default_listener(settings: Settings, now: datetime) -> Listener | None:
    """The single listener's token (SPOTIFY_REFRESH_TOKEN, else SPOTIFY_TOKEN_FILE) as the pipeline finds it,
    named LISTENER_ID or its user id; None when there is neither."""
    path = token_path(settings)
    if not settings.spotify_refresh_token:
        if not path.exists():
            return None
        listener = describe("-", path, registered=False, now=now, default=True)
    else:
        from_env = StoredToken(refresh_token=secret_value(settings.spotify_refresh_token))
        try:  # the file's consent date and user apply only when it describes this very token
            stored = load_token(settings) or from_env
        except ValueError:
            stored = from_env
        listener = _with_token("-", path, stored, registered=False, now=now, default=True)
    return replace(listener, name=settings.listener_id or listener.user_id or "-")


def list_listeners(
    instance: dg.DagsterInstance, settings: Settings, now: datetime | None = None
) -> list[Listener]:
    """The registered listeners in the order they were added, then token files in SPOTIFY_TOKEN_DIR that are
    not registered, then the default listener."""
    now = now or datetime.now(UTC)
    keys = list(instance.get_dynamic_partitions(LISTENER_PARTITIONS))
    folder = token_dir(settings)
    listeners = [
        describe(key, folder / f"{key}.json", registered=True, now=now)
        if _is_name(key)
        else Listener(key, Path("-"), INVALID_NAME)  # added by hand (the UI can add keys): no file is read
        for key in keys
    ]
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    for path in files:
        if _is_name(path.stem) and path.stem not in keys:
            listeners.append(describe(path.stem, path, registered=False, now=now))
    default = default_listener(settings, now)
    return [*listeners, default] if default else listeners


def add_listener(instance: dg.DagsterInstance, name: str) -> bool:
    """Register `name` as a key of the `listener` partitions; False when it already was."""
    check_listener_name(name)
    if instance.has_dynamic_partition(LISTENER_PARTITIONS, name):
        return False
    check_no_case_twin(instance, name)
    instance.add_dynamic_partitions(LISTENER_PARTITIONS, [name])
    return True


def check_no_case_twin(instance: dg.DagsterInstance, name: str) -> None:
    """ListenerError if a listener's name differs from `name` by case only: alice.json and Alice.json are one
    file on some file systems."""
    for key in instance.get_dynamic_partitions(LISTENER_PARTITIONS):
        if key != name and key.lower() == name.lower():
            raise ListenerError(f"listener {key!r} exists; names may not differ by case only")


def check_removable(
    instance: dg.DagsterInstance, settings: Settings, name: str, has_plays: Callable[[str], bool]
) -> None:
    """ListenerError unless `name` is registered or has a token file, or has plays in the lake (`has_plays`,
    asked last: a listener removed before whose plays are still there). The error names the known listeners
    and is the same whatever is asked next, so that `--remove` of a name nobody knows fails one way."""
    if instance.has_dynamic_partition(LISTENER_PARTITIONS, name):
        return
    if listener_token_path(settings, name).exists() or has_plays(name):
        return
    known = [listener.name for listener in list_listeners(instance, settings) if not listener.default]
    raise ListenerError(f"no listener named {name!r} (known: {', '.join(known) or 'none'})")


def remove_listener(instance: dg.DagsterInstance, settings: Settings, name: str) -> Path | None:
    """Unregister `name` (if registered) and delete its token file (returned, or None if there was none);
    the lake and the warehouse keep their plays."""
    registered = instance.has_dynamic_partition(LISTENER_PARTITIONS, name)
    if registered and not _is_name(name):  # a key added by hand: it has no token file
        instance.delete_dynamic_partition(LISTENER_PARTITIONS, name)
        return None
    path = listener_token_path(settings, name)
    if registered:
        instance.delete_dynamic_partition(LISTENER_PARTITIONS, name)
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    return path


def listener_lines(listeners: list[Listener]) -> list[str]:
    """What `spotify-assets listeners` prints: a header and one aligned line per listener."""
    if not listeners:
        return [f"No listeners. Add one with `{AUTH_LISTENER_COMMAND} NAME` (see docs/household.md)."]
    rows = [["LISTENER", "SPOTIFY USER", "AUTHORISED", "RE-AUTHORISE BY", "STATE", "TOKEN FILE"]]
    for listener in listeners:
        note = " (default listener, SPOTIFY_TOKEN_FILE)" if listener.default else ""
        if not listener.default and not listener.registered:
            note = f" (not registered: run `{AUTH_LISTENER_COMMAND} {listener.name}`)"
        rows.append(
            [
                listener.name,
                listener.user_id or "-",
                f"{listener.authorized_at:%Y-%m-%d}" if listener.authorized_at else "-",
                f"{listener.reauthorization_due:%Y-%m-%d}" if listener.reauthorization_due else "-",
                listener.state,
                f"{listener.token_file}{note}",
            ]
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]


def lake_has_plays(settings: Settings) -> Callable[[str], bool]:
    """Whether the lake holds raw objects or report charts of a listener."""
    from spotify_assets.operations.listener_purge import listener_objects  # the warehouse: see LAZY_IMPORTS

    def has_plays(name: str) -> bool:
        return bool(listener_objects(build_lake(settings), name))

    return has_plays


def run_listeners(
    settings: Settings,
    remove: str | None = None,
    print_fn: Callable[[str], None] = print,
    delete: bool = False,
    yes: bool = False,
    ask: Callable[[str], str] = input,
) -> int:
    """`spotify-assets listeners [--remove NAME [--delete-plays [--yes]]]`: list the listeners, or remove
    one (and their plays); the exit code."""
    from spotify_assets.operations.listener_purge import delete_plays  # the warehouse: see LAZY_IMPORTS
    from spotify_assets.operations.rebuild import confirm

    if remove is None:
        with listener_instance(settings) as instance:
            for line in listener_lines(list_listeners(instance, settings)):
                print_fn(line)
        return 0
    question = f"Delete every play of listener {remove} from the lake and the warehouse? [y/N] "
    try:
        with listener_instance(settings) as instance:
            check_removable(instance, settings, remove, lake_has_plays(settings))
            if delete and not yes and not confirm(question, ask):
                print_fn("Nothing removed.")
                return 1
            registered = instance.has_dynamic_partition(LISTENER_PARTITIONS, remove)
            deleted = remove_listener(instance, settings, remove)
    except ListenerError as error:
        print_fn(f"Cannot remove {remove!r}: {error}")
        return 1
    where = "unregistered from the Dagster instance" if registered else "it was not registered"
    token = f"deleted its token file {deleted}" if deleted else "it had no token file"
    print_fn(f"Removed listener {remove}: {where}, {token}.")
    if delete:
        return delete_plays(settings, remove, print_fn=print_fn)
    print_fn(
        "Their plays already captured stay in the lake and the warehouse (`--delete-plays` deletes them). To "
        "end the app's access too, remove them under User Management in the Spotify developer dashboard."
    )
    return 0
