"""No secret in a message or a log line: the values of every secret setting are replaced by `***`.

The values are those of this process's environment, where the resources' `dg.EnvVar`s read them (the
project's `.env` is in it once the settings are read)."""

from __future__ import annotations

import os

from spotify_assets.contracts.settings import Settings

MIN_SECRET_LENGTH = 4  # shorter values would blank out ordinary words


def redact(text: str) -> str:
    """`text` with the value of every secret setting of this process replaced by `***`."""
    for name in Settings.secret_variables():
        value = os.environ.get(name)
        if value and len(value) >= MIN_SECRET_LENGTH:
            text = text.replace(value, "***")
    return text
