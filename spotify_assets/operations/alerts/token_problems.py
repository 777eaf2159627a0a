"""Spotify tokens as problems: a listener's token due for re-authorisation, expired, missing or broken."""

from __future__ import annotations

from datetime import datetime

from spotify_assets.contracts.listener_scope import DEFAULT_LISTENER
from spotify_assets.operations.alerts.problems import PLAYS_AT_RISK, Problem, auth_command, listener_label
from spotify_assets.operations.listeners import DUE_SOON, EXPIRED, OK, Listener
from spotify_assets.quality.capture_rules import TOKEN_WARNING_LEAD


def token_problems(listeners: list[Listener], now: datetime) -> list[Problem]:
    """One problem per listener whose token needs `spotify-assets auth` (registered ones and the default)."""
    problems = []
    for listener in listeners:
        if listener.state == OK or not (listener.registered or listener.default):
            continue
        name = DEFAULT_LISTENER if listener.default else listener.name
        due = listener.reauthorization_due
        if listener.state == DUE_SOON and due is not None:
            what = f"The Spotify token of {listener_label(name)} must be re-authorised by {due:%Y-%m-%d}"
            since = due - TOKEN_WARNING_LEAD
            risk = (
                f"From {due:%Y-%m-%d} Spotify refuses the token (its six-month limit): every capture of "
                f"{listener_label(name)} fails from then on. {PLAYS_AT_RISK}"
            )
        else:
            what = f"The Spotify token of {listener_label(name)} is unusable ({listener.state})"
            since = due if listener.state == EXPIRED and due is not None else now
            risk = f"Every capture of {listener_label(name)} fails. {PLAYS_AT_RISK}"
        problems.append(
            Problem(
                key=f"token/{name}",
                what=what,
                since=since,
                risk=risk,
                fix=f"`{auth_command(name)}`",
                listener=name,
                cause=f"token state: {listener.state}",
                over=f"The Spotify token of {listener_label(name)} is fine again",
            )
        )
    return problems
