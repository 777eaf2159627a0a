"""One incident, one message: which problems to announce, remind of or close, given what was sent before.

The state is a small JSON document (the alert sensor's cursor, which the Dagster instance stores), so a
daemon restart in the middle of an incident sends nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from spotify_assets.operations.alerts.problems import Problem

OPENED, REMINDER, RECOVERED = "alert", "reminder", "recovery"


@dataclass(frozen=True)
class Incident:
    """An announced problem: what it was, since when, for whom, and when it was last sent."""

    what: str
    since: float
    sent: float
    listener: str | None = None
    over: str = ""


@dataclass(frozen=True)
class Notice:
    """One message to send: `kind` is alert, reminder or recovery."""

    kind: str
    key: str
    what: str
    since: datetime
    listener: str | None
    problem: Problem | None = None


def load_state(cursor: str | None) -> dict[str, Incident]:
    """The open incidents recorded in a cursor (none for an empty or unreadable one)."""
    try:
        data = json.loads(cursor) if cursor else {}
        return {key: Incident(**value) for key, value in data.get("open", {}).items()}
    except (ValueError, TypeError, AttributeError):
        return {}


def dump_state(state: dict[str, Incident]) -> str:
    return json.dumps({"open": {key: asdict(incident) for key, incident in sorted(state.items())}})


def advance(
    state: dict[str, Incident], problems: Iterable[Problem], now: datetime, reminder: timedelta
) -> tuple[list[Notice], dict[str, Incident]]:
    """The notices due at `now`, and the state once they are sent: an alert for a new problem, a reminder
    when the last message about it is older than `reminder`, a recovery for an incident that is gone.

    `problems` must hold every problem still true: one left out is taken for over and its recovery is sent
    (so a watcher may merge two problems into one only if it does so for the whole incident)."""
    notices: list[Notice] = []
    current = {problem.key: problem for problem in problems}
    after: dict[str, Incident] = {}
    for key, problem in current.items():
        incident = state.get(key)
        if incident is None:
            notices.append(Notice(OPENED, key, problem.what, problem.since, problem.listener, problem))
            after[key] = Incident(
                problem.what, problem.since.timestamp(), now.timestamp(), problem.listener, problem.recovery
            )
        elif now.timestamp() - incident.sent >= reminder.total_seconds():
            since = datetime.fromtimestamp(incident.since, UTC)
            notices.append(Notice(REMINDER, key, problem.what, since, problem.listener, problem))
            after[key] = Incident(
                problem.what, incident.since, now.timestamp(), problem.listener, problem.recovery
            )
        else:
            after[key] = incident
    for key, incident in state.items():
        if key not in current:
            since = datetime.fromtimestamp(incident.since, UTC)
            over = incident.over or f"Over: {incident.what}"
            notices.append(Notice(RECOVERED, key, over, since, incident.listener))
    return notices, after
