"""Text that PostgreSQL and UTF-8 cannot hold as it came: NUL characters and lone surrogates.

Spotify's JSON can carry both: a NUL (`\\u0000`, local-file tags hold them) is valid JSON but PostgreSQL text
cannot store it; a lone surrogate (`\\ud800`) is valid JSON but not encodable as UTF-8. Each is replaced with
U+FFFD (the replacement character), so a name that held one stays distinct from the same name without it.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
NUL = "\x00"
# A Python str decoded from JSON holds a surrogate only when it is alone (pairs decode to one character).
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def replace_lone_surrogates(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD (what UTF-8 can then encode)."""
    return _LONE_SURROGATE.sub(REPLACEMENT, text)


def without_lone_surrogates(value: Any) -> Any:
    """A JSON value with lone surrogates replaced by U+FFFD in every string (keys included)."""
    if isinstance(value, str):
        return replace_lone_surrogates(value)
    if isinstance(value, list):
        return [without_lone_surrogates(element) for element in value]
    if isinstance(value, dict):
        return {without_lone_surrogates(k): without_lone_surrogates(v) for k, v in value.items()}
    return value


def utf8(text: str) -> bytes:
    """`text` as UTF-8, lone surrogates replaced by U+FFFD (the common case costs one encode)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return replace_lone_surrogates(text).encode("utf-8")


def without_nul(value: Any) -> Any:
    """A string (or a list of strings) with NUL replaced by U+FFFD; anything else unchanged."""
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT) if NUL in value else value
    if isinstance(value, list):
        return [without_nul(element) for element in value]
    return value
