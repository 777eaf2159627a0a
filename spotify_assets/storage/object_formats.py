"""The lake's objects that need neither pandas nor pyarrow: raw JSON (encoded, its shape checked) and the
names of the table formats, whose bytes are `lake_formats`'.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from spotify_assets.contracts import json_codec
from spotify_assets.contracts.export_kinds import STORED_KINDS
from spotify_assets.contracts.text import utf8

FILE_FORMATS = ("parquet", "csv")


@runtime_checkable
class JsonDocument(Protocol):
    """A raw payload that encodes itself: a large partition held compactly rather than as Python objects.

    `to_json_bytes` returns the compact UTF-8 JSON to store (what `json.loads` reads back).
    """

    def to_json_bytes(self) -> bytes: ...


RAW_LIST_FIELDS: dict[str, tuple[str, ...]] = {
    "recently_played": ("items",),
    "streaming_history": STORED_KINDS,
}
"""The fields of a raw asset's partition object that must be lists when present, by the asset's name."""


def raw_shape_problem(payload: Any, list_fields: Sequence[str] = ("items",)) -> str | None:
    """What is wrong with the shape of a raw partition object, or None: it must be a JSON object, and its
    `list_fields` lists. Odd items inside the lists are silver's to exclude or count, not errors here."""
    if not isinstance(payload, dict):
        return f"expected a JSON object, found {type(payload).__name__} {_excerpt(payload)}"
    for name in list_fields:
        value = payload.get(name, [])
        if not isinstance(value, list):
            return f"{name!r} must be a list, found {type(value).__name__} {_excerpt(value)}"
    return None


def _excerpt(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def encode_json(payload: Any) -> bytes:
    """A raw payload as stored: compact UTF-8 JSON, keys in their order (raises for NaN and the like)."""
    fast = json_codec.dumps_exact(payload)
    if fast is not None:
        return fast
    text = json.dumps(
        payload, ensure_ascii=False, indent=None, separators=(",", ":"), sort_keys=False, allow_nan=False
    )
    return utf8(text)  # a lone surrogate (valid JSON, not UTF-8) is stored as U+FFFD
