"""What a rule returns: an `Outcome` (passed or not, a description, metadata for the UI), and the texts the
rules share. No pandas: the check definitions import it when the Dagster definitions load."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["ERROR", "WARN"]


class Markdown(str):
    """Metadata text to show as Markdown (a table of offending rows)."""


@dataclass(frozen=True)
class Outcome:
    """The result of one rule: `passed`, what was found, and metadata for the Dagster UI."""

    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    severity: Severity = "ERROR"


def partitions_text(keys: Iterable[str]) -> str:
    keys = sorted(keys)
    if not keys:
        return "none"
    return keys[0] if len(keys) == 1 else f"{keys[0]}..{keys[-1]} ({len(keys)} days)"


def measured(rows: int, partitions: int) -> str:
    """What a rule read: `193 rows across 7 partitions` (the partitions' rows added up, not the table's)."""
    return f"{rows} rows across {partitions} partition{'' if partitions == 1 else 's'}"
