"""The Spotify token file written by `spotify-assets auth` and read by the live source.

The file is JSON, written atomically (temporary file, then `os.replace`) with mode 0600:
`refresh_token`, `access_token`, `expires_at` (epoch seconds), `authorized_at` (ISO-8601, UTC: when the user
consented), `user_id` (the `/me` id), `scope`, and `refresh_token_sha256`.

`spotify-assets auth --listener NAME` writes the same file as `SPOTIFY_TOKEN_DIR/NAME.json`, one per listener.

`SPOTIFY_REFRESH_TOKEN` in the environment wins over the file's refresh token. `spotify-assets auth
--print-env` writes a file without the refresh token but with its SHA-256 fingerprint, so the consent date and
user still apply to the token kept in `.env`, and only to that token.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from spotify_assets.contracts.settings import Settings, secret_value
from spotify_assets.sources.errors import AUTH_COMMAND

log = logging.getLogger(__name__)

# Spotify: refresh tokens expire six months after the user's consent, and refreshing does not extend them.
# Six calendar months are 181 to 184 days; 182 days is never more than one day late, and the expiry check
# warns two weeks ahead.
REFRESH_TOKEN_LIFETIME = timedelta(days=182)


@dataclass(frozen=True)
class StoredToken:
    """What the token file holds; `origin` says where the refresh token came from (`file` or `env`)."""

    refresh_token: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    expires_at: int | None = None
    authorized_at: datetime | None = None
    user_id: str | None = None
    scope: str | None = None
    refresh_token_sha256: str | None = None
    origin: str = field(default="file", compare=False)

    def to_json(self) -> dict[str, Any]:
        """The file's JSON object."""
        return {
            "refresh_token": self.refresh_token,
            "access_token": self.access_token,
            "expires_at": self.expires_at,
            "authorized_at": self.authorized_at.isoformat() if self.authorized_at else None,
            "user_id": self.user_id,
            "scope": self.scope,
            "refresh_token_sha256": self.refresh_token_sha256,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredToken:
        """Parse the file's JSON object (unknown keys ignored)."""
        authorized_at = data.get("authorized_at")
        expires_at = data.get("expires_at")
        return cls(
            refresh_token=data.get("refresh_token") or None,
            access_token=data.get("access_token") or None,
            expires_at=int(expires_at) if expires_at is not None else None,
            authorized_at=_utc(datetime.fromisoformat(authorized_at)) if authorized_at else None,
            user_id=data.get("user_id") or None,
            scope=data.get("scope") or None,
            refresh_token_sha256=data.get("refresh_token_sha256") or None,
        )


def fingerprint(refresh_token: str) -> str:
    """SHA-256 of a refresh token: ties stored metadata to a token without storing the token."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def reauthorization_due(authorized_at: datetime) -> datetime:
    """When a consent given at `authorized_at` stops working: 182 days (six months) later."""
    return _utc(authorized_at) + REFRESH_TOKEN_LIFETIME


def token_path(settings: Settings) -> Path:
    """SPOTIFY_TOKEN_FILE as a path."""
    return Path(settings.spotify_token_file).expanduser()


def token_dir(settings: Settings) -> Path:
    """SPOTIFY_TOKEN_DIR as a path: one token file per listener of several (`<listener>.json`)."""
    return Path(settings.spotify_token_dir).expanduser()


def read_token_file(path: Path) -> StoredToken | None:
    """The token stored at `path`, or None when there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    if os.name == "posix" and path.stat().st_mode & 0o077:
        log.warning("Spotify token file %s is readable by other users; run: chmod 600 %s", path, path)
    try:
        return StoredToken.from_json(json.loads(text))
    except (ValueError, TypeError, AttributeError) as error:
        raise ValueError(
            f"Spotify token file {path} is not valid; run `spotify-assets auth` again"
        ) from error


def write_token_file(path: Path, token: StoredToken) -> None:
    """Write `token` to `path` atomically, readable by the owner only (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            os.chmod(temporary, 0o600)
            json.dump(token.to_json(), handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    log.info("Saved Spotify authorisation to %s (mode 0600)", path)


def load_token(settings: Settings) -> StoredToken | None:
    """The refresh token to use and what is known about it: SPOTIFY_REFRESH_TOKEN over the token file."""
    stored = read_token_file(token_path(settings))
    env_token = secret_value(settings.spotify_refresh_token)
    if not env_token:
        return stored if stored and stored.refresh_token else None
    if stored and (
        stored.refresh_token == env_token or stored.refresh_token_sha256 == fingerprint(env_token)
    ):
        return replace(stored, refresh_token=env_token, origin="env")
    # The file describes another consent: nothing in it applies to this token.
    return StoredToken(refresh_token=env_token, origin="env")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def auth_command(settings: Settings) -> str:
    """The command that authorises this token (`auth --listener NAME` for a file of SPOTIFY_TOKEN_DIR)."""
    path = token_path(settings)
    if path.parent == token_dir(settings):
        return f"{AUTH_COMMAND} --listener {path.stem}"
    return AUTH_COMMAND
