"""How a check's outcome becomes an `AssetCheckResult`, and which partitions a check evaluation covers."""

# No `from __future__ import annotations`: Dagster reads annotations at runtime.

from collections.abc import Iterable, Sequence
from typing import Any

import dagster as dg

from spotify_assets.quality.outcome import Markdown, Outcome, partitions_text


def checked_partitions(context: dg.AssetCheckExecutionContext, key: dg.AssetKey) -> list[str]:
    """The run's partition keys (one day or a range), else the partition last materialized, else none."""
    if context.has_partition_key or context.has_partition_key_range:
        return list(context.partition_keys)
    event = context.instance.get_latest_materialization_event(key)
    partition = event.asset_materialization.partition if event and event.asset_materialization else None
    return [partition] if partition else []


def to_result(
    key: dg.AssetKey, name: str, outcome: Outcome, partitions: Sequence[str]
) -> dg.AssetCheckResult:
    """An `AssetCheckResult` from a rule's outcome, naming the partitions it covered."""
    severity = dg.AssetCheckSeverity.WARN if outcome.severity == "WARN" else dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=name,
        passed=outcome.passed,
        severity=severity,
        description=outcome.description,
        metadata={
            "partitions": partitions_text(partitions),
            **{k: _metadata_value(v) for k, v in outcome.metadata.items()},
        },
    )


def _metadata_value(value: Any) -> Any:
    """An Outcome metadata value as Dagster metadata: dicts as JSON, Markdown as Markdown, the rest as is."""
    if isinstance(value, dict):
        return dg.MetadataValue.json(value)
    if isinstance(value, Markdown):
        return dg.MetadataValue.md(value)
    return value


def nothing_to_check(key: dg.AssetKey, names: Iterable[str]) -> Iterable[dg.AssetCheckResult]:
    for name in names:
        yield to_result(key, name, Outcome(True, "no materialized partition to check"), [])
