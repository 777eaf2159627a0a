"""The command or step that fixes a failure, from its error text (the project's errors name their fix in
backticks; a few causes outside the project are recognised by their words)."""

from __future__ import annotations

import re

from spotify_assets.operations.alerts.problems import auth_command

BACKTICKED_COMMAND = re.compile(r"`((?:spotify-assets|dagster|make) [^`]+)`")
AUTH_WORDS = ("invalid_grant", "refresh token", "No Spotify authorisation", "token file")
CAUSES = (
    (
        ("No space left on device",),
        "free disk space where LAKE_DIR and the PostgreSQL data live, then let the next run catch up",
    ),
    (
        ("invalid_client",),
        "check SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET, and that the app is not suspended in the Spotify "
        "developer dashboard",
    ),
    (
        ("connection refused", "could not connect", "connection failed", "Connection refused"),
        "start PostgreSQL (DB_HOST); for the embedded one, `spotify-assets stop-postgres` clears a stale "
        "server and the next run starts it again",
    ),
)
GENERIC_FIX = "open the run in the Dagster UI (Runs), fix what its log names, and re-run it"


def fix_for(message: str, listener: str | None, capture: bool) -> str:
    """What to do about a failure whose error text is `message` (of a capture of `listener` if `capture`)."""
    if capture and any(word in message for word in AUTH_WORDS):
        return f"`{auth_command(listener)}`"
    if found := BACKTICKED_COMMAND.search(message):
        return f"`{found.group(1)}`"
    for words, fix in CAUSES:
        if any(word in message for word in words):
            return fix
    if capture:
        return f"{GENERIC_FIX} (the capture schedule retries by itself at its next tick)"
    return GENERIC_FIX
