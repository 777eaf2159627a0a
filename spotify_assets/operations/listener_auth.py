"""`spotify-assets auth --listener [NAME]`: the OAuth flow of `auth`, its token stored as NAME's own.

The token is written to a pending file first and moved into place only once it is known who consented, so a
listener's file never receives another Spotify user's token (see `listeners.py` for the registry).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import webbrowser
from collections.abc import Callable
from datetime import UTC, datetime

import dagster as dg

from spotify_assets.contracts.listener_scope import LISTENER_PARTITIONS, ListenerError, check_listener_name
from spotify_assets.contracts.settings import Settings
from spotify_assets.operations.listeners import (
    AUTH_LISTENER_COMMAND,
    add_listener,
    check_no_case_twin,
    describe,
    list_listeners,
    listener_instance,
    listener_token_path,
)
from spotify_assets.sources.auth import run_auth
from spotify_assets.sources.token_store import read_token_file, token_dir


def authorize_listener(
    settings: Settings,
    name: str | None,
    *,
    open_browser: bool,
    port: int | None = None,
    print_fn: Callable[[str], None] = print,
    input_fn: Callable[[str], str] | None = None,
    open_url: Callable[[str], object] | None = None,
) -> int:
    """`spotify-assets auth --listener [NAME]`: the OAuth flow of `auth`, the token stored in NAME's own file
    (NAME: the Spotify user id when not given), and NAME registered; the exit code.

    The token is written to a pending file first and moved into place only once it is known who consented,
    so a listener's file never receives another Spotify user's token.
    """
    try:
        if name is not None:
            check_listener_name(name)
        with listener_instance(settings) as instance:
            return _authorize_into(instance, settings, name, open_browser, port, print_fn, input_fn, open_url)
    except ListenerError as error:
        print_fn(f"Listener not added: {error}")
        return 2


def _authorize_into(
    instance: dg.DagsterInstance,
    settings: Settings,
    name: str | None,
    open_browser: bool,
    port: int | None,
    print_fn: Callable[[str], None],
    input_fn: Callable[[str], str] | None,
    open_url: Callable[[str], object] | None,
) -> int:
    pending = token_dir(settings) / f".pending-{secrets.token_hex(8)}.json"
    # Only the pending file: neither SPOTIFY_TOKEN_FILE nor SPOTIFY_REFRESH_TOKEN is the listener's.
    flow_settings = settings.model_copy(
        update={"spotify_token_file": str(pending), "spotify_refresh_token": None}
    )
    try:
        code = run_auth(
            flow_settings,
            open_browser=open_browser,
            port=port,
            print_fn=lambda line: None if str(pending) in line else print_fn(line),
            input_fn=input_fn or (lambda prompt: input(prompt)),
            open_url=open_url or (lambda url: webbrowser.open(url)),
        )
        if code != 0:
            return code
        token = read_token_file(pending)
        assert token is not None and token.user_id is not None
        if name is None:
            try:
                name = check_listener_name(token.user_id)
            except ListenerError as error:
                raise ListenerError(f"{error} Give one: `{AUTH_LISTENER_COMMAND} NAME`.") from error
        path = listener_token_path(settings, name)
        _check_owner(instance, settings, name, token.user_id)
        os.replace(pending, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            pending.unlink()
    print_fn(f"Token of listener {name} saved to {path} (mode 0600).")
    if add_listener(instance, name):
        print_fn(
            f"Registered listener {name} (partition key of `{LISTENER_PARTITIONS}` in the Dagster instance "
            f"{os.environ['DAGSTER_HOME']})."
        )
    else:
        print_fn(f"Listener {name} was registered already: their token is renewed.")
    return 0


def _check_owner(instance: dg.DagsterInstance, settings: Settings, name: str, user_id: str) -> None:
    """ListenerError if `name`'s file holds another Spotify user's token, or `user_id` is another listener."""
    now = datetime.now(UTC)
    check_no_case_twin(instance, name)
    current = describe(name, listener_token_path(settings, name), registered=True, now=now)
    if current.user_id is not None and current.user_id != user_id:
        raise ListenerError(
            f"listener {name!r} is Spotify user {current.user_id}, but Spotify user {user_id} consented "
            "(the browser was signed in to another account?). Nothing was saved; sign in as "
            f"{current.user_id} and run again, or remove {name!r} first."
        )
    for other in list_listeners(instance, settings, now):
        if other.name != name and other.user_id == user_id:
            which = (
                "the default listener (SPOTIFY_TOKEN_FILE)" if other.default else f"listener {other.name!r}"
            )
            raise ListenerError(
                f"Spotify user {user_id} is {which} already: their plays are captured. Nothing was saved; "
                "sign in to Spotify as the new listener (or sign out first) and run again."
            )
