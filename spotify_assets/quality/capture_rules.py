"""The rules of the raw captures and of the listeners' Spotify authorisation: plain values in, an `Outcome`
out (no frames, no pandas)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from spotify_assets.quality.outcome import Outcome

TOKEN_WARNING_LEAD = timedelta(days=14)
"""Warn this long before Spotify's six-month refresh-token expiry."""


def no_possible_gap(gap_days: Sequence[str]) -> Outcome:
    """A warning when the raw extraction found a possible gap (a full API page not reaching stored plays)."""
    metadata = {"possible_gap_days": ", ".join(gap_days)}
    if not gap_days:
        return Outcome(True, "the API's window reached back to plays already stored", metadata, "WARN")
    return Outcome(
        False,
        f"plays may be missing on {', '.join(gap_days)}: the API returned a full page of 50 that did not "
        "reach back to anything stored; run the intraday capture more often, or import a data export",
        metadata,
        "WARN",
    )


def authorization_fresh(
    source: str,
    authorized_at: datetime | None,
    due: datetime | None,
    now: datetime,
    command: str = "spotify-assets auth",
) -> Outcome:
    """Warn two weeks before the refresh token's six-month expiry, or when a live source's consent date is
    unknown; the sample source needs no authorisation."""
    if source != "live":
        return Outcome(
            True, f"the {source} source needs no Spotify authorisation", {"source": source}, "WARN"
        )
    if authorized_at is None or due is None:
        return Outcome(
            False,
            "the consent date of the refresh token is unknown, so its six-month expiry cannot be watched: "
            f"run `{command}` to record it",
            {"source": source},
            "WARN",
        )
    metadata = {
        "source": source,
        "authorized_at": authorized_at.isoformat(),
        "reauthorization_due": due.isoformat(),
        "days_left": (due - now) // timedelta(days=1),
    }
    if now >= due - TOKEN_WARNING_LEAD:
        state = "expired" if now >= due else "expires"
        return Outcome(
            False,
            f"the Spotify refresh token {state} on {due.date().isoformat()}: run `{command}` again",
            metadata,
            "WARN",
        )
    return Outcome(
        True, f"the Spotify refresh token is valid until {due.date().isoformat()}", metadata, "WARN"
    )


def household_authorization_fresh(outcomes: Mapping[str, Outcome]) -> Outcome:
    """Every listener's `authorization_fresh` as one outcome: failing (a warning) when any listener's does."""
    if list(outcomes) == ["default"]:
        return outcomes["default"]
    failing = {name: outcome for name, outcome in outcomes.items() if not outcome.passed}
    metadata = {name: outcome.metadata for name, outcome in outcomes.items()}
    if not failing:
        return Outcome(
            True, f"every listener's Spotify token is fresh ({', '.join(outcomes)})", metadata, "WARN"
        )
    text = "; ".join(f"{name}: {outcome.description}" for name, outcome in failing.items())
    return Outcome(False, text, metadata, "WARN")
