"""The text of an alert, a reminder and a recovery: what, for whom, since when, what is at risk, the fix."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from spotify_assets.operations.alerts.incidents import OPENED, RECOVERED, REMINDER, Notice
from spotify_assets.operations.alerts.redact import redact


@dataclass(frozen=True)
class Message:
    """One message as every channel sends it: a subject line and a plain-text body."""

    kind: str
    key: str
    subject: str
    body: str
    listener: str | None


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def render(notice: Notice, now: datetime, flagged_days: list[str] | None = None) -> Message:
    """The message of `notice` (at `now`); a recovery of a capture names the days flagged meanwhile."""
    who = f"Listener: {notice.listener}\n" if notice.listener else ""
    if notice.kind == RECOVERED:
        subject = f"[spotify-assets] Recovered: {notice.what}"
        lines = [f"Recovered: {notice.what} (the incident began {_when(notice.since)}, ended {_when(now)})."]
        if notice.listener:
            lines.append(f"Listener: {notice.listener}")
        if flagged_days is not None:
            days = ", ".join(flagged_days) if flagged_days else "none"
            lines.append(f"Capture works again. Days flagged possible_gap meanwhile: {days}.")
        body = "\n".join(lines)
    else:
        problem = notice.problem
        assert problem is not None
        prefix = "Still failing" if notice.kind == REMINDER else "Alert"
        subject = f"[spotify-assets] {prefix}: {notice.what}"
        body = (
            f"{prefix}: {notice.what}.\n"
            f"{who}"
            f"Since: {_when(notice.since)}\n"
            f"Cause: {problem.cause}\n"
            f"At risk: {problem.risk}\n"
            f"Fix: {problem.fix}\n"
        )
        if notice.kind == REMINDER:
            body += (
                "(A reminder: at most one a day while this lasts; a recovery message follows when it ends.)\n"
            )
        elif notice.kind == OPENED:
            body += "(One message per incident: a daily reminder while it lasts, one when it ends.)\n"
    return Message(
        notice.kind, notice.key, redact(subject), redact(body.rstrip("\n") + "\n"), notice.listener
    )
