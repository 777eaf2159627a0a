"""No secret in a message or a log line: the values of every secret setting are replaced by `***`."""

from __future__ import annotations

from spotify_assets.contracts.settings import SECRET_VARIABLES, read_secret

MIN_SECRET_LENGTH = 4  # shorter values would blank out ordinary words


def redact(text: str) -> str:
    """`text` with the value of every secret setting of this process replaced by `***`."""
    for name in SECRET_VARIABLES:
        value = read_secret(name)
        if value and len(value) >= MIN_SECRET_LENGTH:
            text = text.replace(value, "***")
    return text
