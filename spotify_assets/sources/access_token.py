"""The live source's access token: loaded from the token file (or SPOTIFY_REFRESH_TOKEN), refreshed before it
expires, and what to do when Spotify refuses the refresh token (`invalid_grant`).

The access token is refreshed here, with `requests` against SPOTIFY_ACCOUNTS_BASE_URL + `api/token`, not by
spotipy's SpotifyOAuth: its token URL is a class constant, it logs request headers and bodies at DEBUG, it
writes its cache file with the default umask, and it would prompt when the refresh fails. spotipy gets the
access token as `auth=`; `invalid_grant` becomes a `SpotifyAuthError` that is never retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import requests

from spotify_assets.contracts.settings import Settings, secret_value
from spotify_assets.sources.retries import RETRIED_STATUSES, HttpFault, Retrier
from spotify_assets.sources.spotify_client import AUTH_COMMAND, SpotifyApiError, SpotifyAuthError, redact
from spotify_assets.sources.token_store import (
    StoredToken,
    auth_command,
    load_token,
    reauthorization_due,
    token_path,
    write_token_file,
)

log = logging.getLogger(__name__)

_EXPIRY_MARGIN_S = 60  # refresh an access token this long before Spotify says it expires


def token_url(settings: Settings) -> str:
    """The accounts service's token endpoint under SPOTIFY_ACCOUNTS_BASE_URL."""
    return settings.spotify_accounts_base_url.rstrip("/") + "/api/token"


def request_token(settings: Settings, data: dict[str, str], *, timeout: float) -> dict[str, Any]:
    """One POST to the token endpoint with the app's credentials; the JSON answer holding `access_token`."""
    client_id, client_secret = settings.spotify_client_id, secret_value(settings.spotify_client_secret)
    if not client_id or not client_secret:
        raise SpotifyAuthError(
            "SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET must be set (your app's credentials from "
            "https://developer.spotify.com/dashboard).",
            error="no_client",
        )
    response = requests.post(token_url(settings), data=data, auth=(client_id, client_secret), timeout=timeout)
    if response.status_code in RETRIED_STATUSES:
        raise HttpFault(response.status_code, response.headers.get("Retry-After"))
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.ok and isinstance(body, dict) and body.get("access_token"):
        return body
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        description = str(body.get("error_description") or "")[:200]
        message = f"Spotify's token endpoint refused the request: {error}" + (
            f" ({description})" if description else ""
        )
        if error == "invalid_client":
            message += "; check SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET"
        raise SpotifyAuthError(redact(message, [client_secret, *data.values()]), error=error)
    raise SpotifyApiError(f"Spotify's token endpoint answered HTTP {response.status_code} without a token")


def no_token_message(settings: Settings) -> str:
    """What to do when there is no refresh token at all."""
    command = auth_command(settings)
    return (
        f"No Spotify authorisation found (no token file at {token_path(settings)} and no "
        f"SPOTIFY_REFRESH_TOKEN). Run `{command}` once (`{command} --no-browser` on a server)."
    )


def invalid_grant_message(token: StoredToken, command: str = AUTH_COMMAND) -> str:
    """What to do when Spotify refuses the refresh token, with the consent date when it is known."""
    known = ""
    if token.authorized_at:
        who = f" by Spotify user {token.user_id}" if token.user_id else ""
        due = reauthorization_due(token.authorized_at)
        known = (
            f" It was authorised on {token.authorized_at:%Y-%m-%d}{who}; "
            f"that consent ran until {due:%Y-%m-%d}."
        )
    return (
        "Spotify refused the saved authorisation (invalid_grant): the refresh token expired or was revoked."
        f"{known} Refresh tokens expire six months after consent, refreshing does not extend them, and "
        "removing the app at https://www.spotify.com/account/apps revokes them. "
        f"Run `{command}` to authorise again."
    )


class AccessToken:
    """One source's access token, refreshed (through the source's `Retrier`) when it is missing or expiring.

    A refresh of a token from the token file writes the file back (Spotify may rotate the refresh token).
    """

    def __init__(self, settings: Settings, *, timeout: float, clock: Callable[[], float]) -> None:
        self._settings = settings
        self._timeout = timeout
        self._clock = clock
        self._token: StoredToken | None = None

    def get(self, retrier: Retrier) -> str:
        """A usable access token: the one held while it is valid for another minute, else a refreshed one."""
        if self._token is None:
            try:
                self._token = load_token(self._settings)
            except ValueError as error:
                raise SpotifyAuthError(str(error), error="bad_token_file") from error
            if self._token is None:
                raise SpotifyAuthError(no_token_message(self._settings), error="no_token")
        token = self._token
        if token.access_token and token.expires_at and token.expires_at - _EXPIRY_MARGIN_S > self._clock():
            return token.access_token
        self._token = self._refresh(token, retrier)
        assert self._token.access_token is not None
        return self._token.access_token

    def discard(self) -> None:
        """Forget the access token (Spotify answered 401 to it): the next `get` refreshes."""
        if self._token:
            self._token = replace(self._token, access_token=None, expires_at=None)

    def secrets(self) -> list[str | None]:
        """Every credential an error message must not contain."""
        token = self._token
        return [
            secret_value(self._settings.spotify_client_secret),
            secret_value(self._settings.spotify_refresh_token),
            token.refresh_token if token else None,
            token.access_token if token else None,
        ]

    def _refresh(self, token: StoredToken, retrier: Retrier) -> StoredToken:
        assert token.refresh_token is not None
        data = {"grant_type": "refresh_token", "refresh_token": token.refresh_token}
        try:
            body = retrier.run(
                "token refresh", lambda: request_token(self._settings, data, timeout=self._timeout)
            )
        except SpotifyAuthError as error:
            if error.error == "invalid_grant":
                raise SpotifyAuthError(
                    invalid_grant_message(token, auth_command(self._settings)), error="invalid_grant"
                ) from error
            raise
        refreshed = replace(
            token,
            access_token=body["access_token"],
            expires_at=int(self._clock() + float(body.get("expires_in", 3600))),
            refresh_token=body.get("refresh_token") or token.refresh_token,
            scope=body.get("scope") or token.scope,
        )
        if token.origin == "file":
            write_token_file(token_path(self._settings), refreshed)
        elif refreshed.refresh_token != token.refresh_token:
            log.warning("Spotify issued a new refresh token; SPOTIFY_REFRESH_TOKEN keeps the previous one")
        log.info("Refreshed the Spotify access token")
        return refreshed
