"""Where alerts go: email over SMTP and a webhook (plain JSON, Slack, Discord or ntfy), as one resource.

The resource's config holds no secret (the UI shows config): the SMTP password and the webhook URL are
`dg.EnvVar`s (ALERT_SMTP_PASSWORD, ALERT_WEBHOOK_URL), resolved from the environment when the sensor builds
the resource, and used only to send.
"""

# No `from __future__ import annotations`: Dagster reads the resource's field annotations at runtime.

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

import dagster as dg
from pydantic import Field

from spotify_assets.contracts.alert_settings import AlertSettings
from spotify_assets.operations.alerts.messages import Message
from spotify_assets.operations.alerts.redact import redact

TIMEOUT_SECONDS = 20
IMPLICIT_TLS_PORT = 465
DISCORD_LIMIT = 2000


def webhook_request(message: Message, fmt: str) -> dict[str, Any]:
    """The keyword arguments of the webhook POST for `fmt`: a JSON body (ntfy: text with a Title header)."""
    text = f"{message.subject}\n\n{message.body}"
    if fmt == "slack":
        return {"json": {"text": text}}
    if fmt == "discord":
        return {"json": {"content": text[:DISCORD_LIMIT]}}
    if fmt == "ntfy":
        tags = "white_check_mark" if message.kind == "recovery" else "warning"
        headers = {"Title": message.subject, "Tags": tags, "Content-Type": "text/plain; charset=utf-8"}
        return {"data": message.body.encode(), "headers": headers}
    return {
        "json": {
            "kind": message.kind,
            "incident": message.key,
            "listener": message.listener,
            "subject": message.subject,
            "text": message.body,
        }
    }


class AlertChannels(dg.ConfigurableResource):
    """Email (SMTP) and webhook channels of the alert sensor; `send` returns the channels that took it."""

    smtp_host: str | None = Field(default=None, description="SMTP server (ALERT_SMTP_HOST)")
    smtp_port: int = Field(default=587, description="SMTP port (ALERT_SMTP_PORT; 465 = implicit TLS)")
    smtp_starttls: bool = Field(default=True, description="STARTTLS before login (ALERT_SMTP_STARTTLS)")
    smtp_user: str | None = Field(default=None, description="SMTP login (ALERT_SMTP_USER)")
    email_from: str = Field(default="spotify-assets@localhost", description="From address")
    email_to: list[str] = Field(default_factory=list, description="Recipients (ALERT_EMAIL_TO)")
    smtp_password: str | None = Field(default=None, description="dg.EnvVar('ALERT_SMTP_PASSWORD')")
    webhook_url: str | None = Field(default=None, description="dg.EnvVar('ALERT_WEBHOOK_URL')")
    webhook_format: str = Field(default="json", description="json, slack, discord or ntfy")

    @classmethod
    def from_settings(cls, alerts: AlertSettings) -> "AlertChannels":
        return cls(
            smtp_host=alerts.smtp_host,
            smtp_port=alerts.smtp_port,
            smtp_starttls=alerts.smtp_starttls,
            smtp_user=alerts.smtp_user,
            smtp_password=dg.EnvVar("ALERT_SMTP_PASSWORD") if alerts.has_smtp_password else None,
            email_from=alerts.email_from,
            email_to=list(alerts.email_to),
            webhook_url=dg.EnvVar("ALERT_WEBHOOK_URL") if alerts.has_webhook else None,
            webhook_format=alerts.webhook_format,
        )

    def send(self, message: Message, log: Any) -> list[str]:
        """Send `message` on every configured channel; a failure is logged (redacted), never raised."""
        import requests  # only when an alert goes out: see LAZY_IMPORTS

        sent = []
        for name, channel in (("email", self._email), ("webhook", self._webhook)):
            try:
                if channel(message):
                    sent.append(name)
            except requests.RequestException as error:  # its text may hold the URL, a secret
                log.warning(f"alert {message.key} not sent by {name}: {type(error).__name__}")
            except (OSError, smtplib.SMTPException, ValueError) as error:
                log.warning(
                    f"alert {message.key} not sent by {name}: {type(error).__name__}: {redact(str(error))}"
                )
        return sent

    def _email(self, message: Message) -> bool:
        if not self.smtp_host or not self.email_to:
            return False
        email = EmailMessage()
        email["Subject"] = message.subject
        email["From"] = self.email_from
        email["To"] = ", ".join(self.email_to)
        email.set_content(message.body)
        context = ssl.create_default_context()
        if self.smtp_port == IMPLICIT_TLS_PORT:
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                self.smtp_host, self.smtp_port, timeout=TIMEOUT_SECONDS, context=context
            )
        else:
            server = smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=TIMEOUT_SECONDS)
        with server:
            if self.smtp_starttls and self.smtp_port != IMPLICIT_TLS_PORT:
                server.starttls(context=context)
            if self.smtp_user:
                if not self.smtp_password:
                    raise ValueError("ALERT_SMTP_USER is set but ALERT_SMTP_PASSWORD is not")
                server.login(self.smtp_user, self.smtp_password)
            server.send_message(email)
        return True

    def _webhook(self, message: Message) -> bool:
        if not self.webhook_url:
            return False
        import requests  # only when an alert goes out: see LAZY_IMPORTS

        response = requests.post(
            self.webhook_url, timeout=TIMEOUT_SECONDS, **webhook_request(message, self.webhook_format)
        )
        if not response.ok:
            raise ValueError(f"the webhook answered HTTP {response.status_code}")
        return True
