"""The alert and heartbeat settings (part of the one `Settings` object): where messages go and when
(`operations/alerts` sends them).

Secrets (ALERT_SMTP_PASSWORD, ALERT_WEBHOOK_URL, HEARTBEAT_URL) are read with `read_secret` when a message or
a heartbeat is sent; the settings only record whether the webhook and the heartbeat are configured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

WEBHOOK_FORMATS = ("json", "slack", "discord", "ntfy")
ALERT_SECRETS = frozenset({"ALERT_SMTP_PASSWORD", "ALERT_WEBHOOK_URL", "HEARTBEAT_URL"})


@dataclass(frozen=True)
class AlertSettings:
    """Alert channels, thresholds and the heartbeat; no channel configured means no alert sensor."""

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_user: str | None = None
    email_from: str = "spotify-assets@localhost"
    email_to: tuple[str, ...] = ()
    has_webhook: bool = False
    webhook_format: str = "json"
    stale_capture_seconds: int = 3600
    reminder_hours: int = 24
    interval_seconds: int = 60
    has_heartbeat: bool = False

    @property
    def has_email(self) -> bool:
        return bool(self.smtp_host and self.email_to)

    @property
    def configured(self) -> bool:
        """Whether any channel is set: only then do the definitions hold the alert sensor."""
        return self.has_email or self.has_webhook

    @classmethod
    def from_getter(cls, get: Callable[[str], str | None]) -> AlertSettings:
        """Alert settings from `get(NAME)` (None for unset), with a ValueError naming a bad variable."""
        smtp_host = get("ALERT_SMTP_HOST")
        email_to = tuple(
            address.strip() for address in (get("ALERT_EMAIL_TO") or "").split(",") if address.strip()
        )
        if smtp_host and not email_to:
            raise ValueError("ALERT_SMTP_HOST is set but ALERT_EMAIL_TO is not: give the recipients (a,b)")
        if email_to and not smtp_host:
            raise ValueError("ALERT_EMAIL_TO is set but ALERT_SMTP_HOST is not: give the SMTP server")
        if (fmt := get("ALERT_WEBHOOK_FORMAT") or cls.webhook_format) not in WEBHOOK_FORMATS:
            raise ValueError(f"ALERT_WEBHOOK_FORMAT must be one of {', '.join(WEBHOOK_FORMATS)}, not {fmt!r}")
        user = get("ALERT_SMTP_USER")
        return cls(
            smtp_host=smtp_host,
            smtp_port=_whole(get("ALERT_SMTP_PORT"), cls.smtp_port, "ALERT_SMTP_PORT"),
            smtp_starttls=_flag(get("ALERT_SMTP_STARTTLS"), cls.smtp_starttls, "ALERT_SMTP_STARTTLS"),
            smtp_user=user,
            email_from=get("ALERT_EMAIL_FROM") or user or cls.email_from,
            email_to=email_to,
            has_webhook=bool(get("ALERT_WEBHOOK_URL")),
            webhook_format=fmt,
            stale_capture_seconds=_whole(
                get("ALERT_STALE_CAPTURE_SECONDS"), cls.stale_capture_seconds, "ALERT_STALE_CAPTURE_SECONDS"
            ),
            reminder_hours=_whole(get("ALERT_REMINDER_HOURS"), cls.reminder_hours, "ALERT_REMINDER_HOURS"),
            interval_seconds=_whole(
                get("ALERT_INTERVAL_SECONDS"), cls.interval_seconds, "ALERT_INTERVAL_SECONDS"
            ),
            has_heartbeat=bool(get("HEARTBEAT_URL")),
        )


def _whole(value: str | None, default: int, name: str) -> int:
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")
    return int(value)


def _flag(value: str | None, default: bool, name: str) -> bool:
    if value is None:
        return default
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")
