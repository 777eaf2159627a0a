"""`spotify-assets auth`: the Authorization Code flow that gives the live source its refresh token.

The browser is sent to Spotify's consent page; Spotify redirects it to SPOTIFY_REDIRECT_URI on an explicit
loopback address, where a one-shot listener (`auth_redirect`) takes the code (or, with `--no-browser`, the
person pastes the address the browser was redirected to). The code is exchanged for tokens, `/me` says who
consented, and the token file (mode 0600) records the refresh token with `authorized_at`, from which
re-authorisation is due six months later.
"""

from __future__ import annotations

import secrets
import time
import webbrowser
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from spotipy.exceptions import SpotifyException

from spotify_assets.contracts.settings import Settings
from spotify_assets.sources.access_token import request_token
from spotify_assets.sources.auth_redirect import CallbackListener, parse_callback
from spotify_assets.sources.spotify_client import AUTH_COMMAND, SpotifyAuthError, SpotifyError, make_client
from spotify_assets.sources.token_store import (
    StoredToken,
    fingerprint,
    reauthorization_due,
    token_path,
    write_token_file,
)

SCOPE = "user-read-recently-played"
LOOPBACK_HOSTS = ("127.0.0.1", "::1")
DEFAULT_WAIT_S = 300.0
HTTP_TIMEOUT_S = 15.0


def validate_redirect_uri(uri: str) -> None:
    """Raise ValueError unless `uri` is https or http on an explicit loopback address, as Spotify requires."""
    parts = urlsplit(uri)
    if parts.hostname == "localhost":
        raise ValueError(
            f"SPOTIFY_REDIRECT_URI is {uri}: Spotify refuses `localhost` redirect URIs (since "
            "2025-11-27). Use the explicit loopback address, e.g. http://127.0.0.1:8888/callback, or an "
            "https URI, and register exactly that URI in your app's settings in the Spotify developer "
            "dashboard."
        )
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS):
        return
    raise ValueError(
        f"SPOTIFY_REDIRECT_URI is {uri}: Spotify accepts only https redirect URIs or http on an explicit "
        "loopback address (http://127.0.0.1:PORT/... or http://[::1]:PORT/...)."
    )


def redirect_uri_for(settings: Settings, port: int | None) -> str:
    """SPOTIFY_REDIRECT_URI, with its port replaced by `port` when one is given."""
    uri = settings.spotify_redirect_uri
    if port is None:
        return uri
    parts = urlsplit(uri)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return urlunsplit((parts.scheme, f"{host}:{port}", parts.path, parts.query, parts.fragment))


def build_authorize_url(settings: Settings, state: str, port: int | None) -> str:
    """The consent page's URL under SPOTIFY_ACCOUNTS_BASE_URL, asking for `user-read-recently-played`."""
    if not settings.spotify_client_id:
        raise ValueError("SPOTIFY_CLIENT_ID is not set")
    query = urlencode(
        {
            "client_id": settings.spotify_client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri_for(settings, port),
            "scope": SCOPE,
            "state": state,
        }
    )
    return f"{settings.spotify_accounts_base_url.rstrip('/')}/authorize?{query}"


def exchange_code(
    settings: Settings, code: str, redirect_uri: str, *, timeout: float = HTTP_TIMEOUT_S
) -> dict[str, Any]:
    """Exchange an authorisation code for tokens at the token endpoint (the `redirect_uri` must match)."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    return request_token(settings, data, timeout=timeout)


def fetch_user_id(settings: Settings, access_token: str, *, timeout: float = HTTP_TIMEOUT_S) -> str:
    """The Spotify user id behind an access token (`GET /me`)."""
    try:
        user_id = make_client(settings, access_token, timeout=timeout).me().get("id")
    except SpotifyException as error:
        hint = (
            " For an app in development mode, add this Spotify account under User Management in the "
            "developer dashboard (at most five users); the app owner needs Spotify Premium."
            if error.http_status == 403
            else ""
        )
        raise SpotifyError(f"Spotify's GET /me failed with HTTP {error.http_status}.{hint}") from error
    except (requests.Timeout, requests.ConnectionError) as error:
        raise SpotifyError(f"Spotify's GET /me did not answer ({type(error).__name__}).") from error
    if not isinstance(user_id, str) or not user_id:
        raise SpotifyError("Spotify's GET /me answered without a user id.")
    return user_id


def run_auth(
    settings: Settings,
    *,
    open_browser: bool,
    print_fn: Callable[[str], None] = print,
    input_fn: Callable[[str], str] = input,
    port: int | None = None,
    print_env: bool = False,
    open_url: Callable[[str], object] = webbrowser.open,
    wait_s: float = DEFAULT_WAIT_S,
) -> int:
    """Authorise, store the token (or print the `.env` line), say who and until when; the exit code."""
    if not settings.spotify_client_id or not settings.spotify_client_secret:
        print_fn(
            "Set SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET first (your app at "
            "https://developer.spotify.com/dashboard), in the environment or in .env."
        )
        return 2
    try:
        validate_redirect_uri(settings.spotify_redirect_uri)
    except ValueError as error:
        print_fn(str(error))
        return 2
    state = secrets.token_urlsafe(24)
    try:
        if open_browser:
            redirect_uri, code = _code_from_listener(settings, state, port, print_fn, open_url, wait_s)
        else:
            redirect_uri, code = _code_from_paste(settings, state, port, print_fn, input_fn)
        token = _token_from_code(settings, code, redirect_uri)
        _store(settings, token, print_env, print_fn)
    except (SpotifyError, ValueError, OSError) as error:
        print_fn(f"Authorisation failed: {error}")
        return 1
    assert token.authorized_at is not None
    print_fn(f"Authorised by Spotify user {token.user_id} on {token.authorized_at:%Y-%m-%d %H:%M} UTC.")
    print_fn(
        f"Re-authorisation is due by {reauthorization_due(token.authorized_at):%Y-%m-%d}: Spotify refresh "
        f"tokens expire six months after consent. Run `{AUTH_COMMAND}` again before then."
    )
    return 0


def _code_from_listener(
    settings: Settings,
    state: str,
    port: int | None,
    print_fn: Callable[[str], None],
    open_url: Callable[[str], object],
    wait_s: float,
) -> tuple[str, str]:
    parts = urlsplit(settings.spotify_redirect_uri)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError("an https redirect URI cannot reach a local listener: use --no-browser")
    # A loopback redirect URI registered without a port accepts any port (Spotify's dynamic loopback ports).
    wanted_port = port if port is not None else (parts.port or 0)
    try:
        listener = CallbackListener(parts.hostname, wanted_port, parts.path, state)
    except OSError as error:
        raise ValueError(
            f"cannot listen on {parts.hostname}:{wanted_port} ({error.strerror}); pass --port with a "
            "free port that your registered redirect URI allows"
        ) from error
    with listener:
        redirect_uri = redirect_uri_for(settings, listener.port)
        url = build_authorize_url(settings, state, listener.port)
        print_fn("Opening Spotify's consent page in your browser. If it does not open, visit:")
        print_fn(url)
        print_fn(
            f"Waiting for Spotify to redirect to {redirect_uri} (without a browser here, use --no-browser)."
        )
        open_url(url)
        return redirect_uri, listener.wait(wait_s)


def _code_from_paste(
    settings: Settings,
    state: str,
    port: int | None,
    print_fn: Callable[[str], None],
    input_fn: Callable[[str], str],
) -> tuple[str, str]:
    redirect_uri = redirect_uri_for(settings, port)
    print_fn("Open this address in a browser on any machine and allow access:")
    print_fn(build_authorize_url(settings, state, port))
    print_fn(
        f"Spotify then sends the browser to {redirect_uri}?code=...; that page may not load, which is "
        "expected. Copy the whole address from the browser's address bar and paste it here."
    )
    pasted = input_fn("Redirected address: ").strip()
    return redirect_uri, parse_callback(urlsplit(pasted).query, state)


def _token_from_code(settings: Settings, code: str, redirect_uri: str) -> StoredToken:
    body = exchange_code(settings, code, redirect_uri)
    granted = str(body.get("scope") or "").split()
    if SCOPE not in granted:
        raise SpotifyAuthError(f"Spotify did not grant the {SCOPE} scope.", error="scope")
    if not body.get("refresh_token"):
        raise SpotifyAuthError("Spotify's answer holds no refresh token.", error="no_refresh_token")
    return StoredToken(
        refresh_token=body["refresh_token"],
        access_token=body["access_token"],
        expires_at=int(time.time() + float(body.get("expires_in", 3600))),
        authorized_at=datetime.now(UTC).replace(microsecond=0),
        user_id=fetch_user_id(settings, body["access_token"]),
        scope=" ".join(granted),
    )


def _store(settings: Settings, token: StoredToken, print_env: bool, print_fn: Callable[[str], None]) -> None:
    path = token_path(settings)
    assert token.refresh_token is not None
    if print_env:
        # No secret on disk: only who consented and when, tied to the token by its fingerprint.
        metadata = StoredToken(
            authorized_at=token.authorized_at,
            user_id=token.user_id,
            scope=token.scope,
            refresh_token_sha256=fingerprint(token.refresh_token),
        )
        write_token_file(path, metadata)
        print_fn("Add this line to .env (or your secret store); keep it secret:")
        print_fn(f"SPOTIFY_REFRESH_TOKEN={token.refresh_token}")
        print_fn(f"The consent date and user (no token) are in {path}, for the expiry check.")
        return
    write_token_file(path, token)
    print_fn(f"Token saved to {path} (mode 0600).")
    if settings.spotify_refresh_token:
        print_fn(
            "Note: SPOTIFY_REFRESH_TOKEN is set and wins over the token file; remove it to use this token."
        )
