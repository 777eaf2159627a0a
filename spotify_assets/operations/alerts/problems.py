"""What needs action now: one `Problem` per incident, found from the Dagster instance and the token files.

The alert sensor turns the set of problems into messages (`incidents.py`); `spotify-assets status` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from spotify_assets.contracts.listener_scope import DEFAULT_LISTENER

CAPTURE_JOB = "raw_capture"
CAPTURE_SCHEDULE = "raw_capture_intraday_schedule"
PLAYS_AT_RISK = (
    "Spotify keeps only a listener's last 50 plays: every play beyond those 50 that is not captured in time "
    "is lost for good (about three hours of listening)."
)


@dataclass(frozen=True)
class Problem:
    """One incident: `key` names it across ticks (`run/raw_capture/alice`, `stale/alice`, `token/bob`)."""

    key: str
    what: str
    since: datetime
    risk: str
    fix: str
    listener: str | None = None
    cause: str = ""
    over: str = ""
    """The recovery's headline (`The capture of listener alice works again`); `what` is prefixed otherwise."""
    began: datetime | None = None
    """For failing runs, when the oldest failed run was created (`since` is when it ended)."""

    @property
    def recovery(self) -> str:
        return self.over or f"Over: {self.what}"


def listener_label(listener: str) -> str:
    """`listener alice`, or `the default listener` for the single-listener install's token."""
    return "the default listener" if listener == DEFAULT_LISTENER else f"listener {listener}"


def auth_command(listener: str | None) -> str:
    """The command that renews `listener`'s Spotify authorisation."""
    if listener in (None, DEFAULT_LISTENER):
        return "spotify-assets auth"
    return f"spotify-assets auth --listener {listener}"


def capture_run_key(listener: str) -> str:
    """The key of the problem 'the captures of `listener` fail' (see `run_problems.run_key`)."""
    return f"run/{CAPTURE_JOB}" if listener == DEFAULT_LISTENER else f"run/{CAPTURE_JOB}/{listener}"
