"""The alert and heartbeat settings as the alert code sees them (`Settings.alerts`): where messages go and
when (`operations/alerts` sends them). The values are `Settings` fields (ALERT_*, HEARTBEAT_URL); this view
records only whether each secret is set, never its value.
"""

from __future__ import annotations

from dataclasses import dataclass

WEBHOOK_FORMATS = ("json", "slack", "discord", "ntfy")


@dataclass(frozen=True)
class AlertSettings:
    """Alert channels, thresholds and the heartbeat; no channel configured means no alert sensor."""

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_user: str | None = None
    has_smtp_password: bool = False
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
