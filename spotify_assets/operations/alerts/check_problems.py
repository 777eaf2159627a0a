"""Failed asset checks as problems: a check whose latest evaluation failed (WARN or ERROR) is open until an
evaluation passes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg

from spotify_assets.assets.raw import LISTENERS_FAILED
from spotify_assets.operations.alerts.fixes import GENERIC_FIX, fix_for
from spotify_assets.operations.alerts.problems import PLAYS_AT_RISK, Problem
from spotify_assets.operations.alerts.redact import redact

TOKEN_CHECK = "spotify_authorization_fresh"
"""Left to the token problems (`token_problems.py`), which read the same token files per listener."""
GAP_CHECK = "no_possible_gap"
CAPTURED_CHECK = "every_listener_captured"
CHECK_DESCRIPTION_LENGTH = 400


def check_key_text(key: dg.AssetCheckKey) -> str:
    return f"{key.asset_key.to_user_string()}:{key.name}"


def watched_check_keys(checks: Sequence[dg.AssetChecksDefinition]) -> list[dg.AssetCheckKey]:
    """The keys of `checks` whose failures become problems (all but the token check)."""
    return [key for check in checks for key in check.check_keys if key.name != TOKEN_CHECK]


def check_problems(instance: dg.DagsterInstance, keys: Sequence[dg.AssetCheckKey]) -> list[Problem]:
    """One problem per check among `keys` whose latest evaluation failed."""
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(list(keys))
    problems = []
    for key, record in sorted(latest.items(), key=lambda item: check_key_text(item[0])):
        event = record.event.dagster_event if record.event else None
        evaluation = event.event_specific_data if event else None
        if not isinstance(evaluation, dg.AssetCheckEvaluation) or evaluation.passed:
            continue
        problems.append(_problem(key, evaluation, datetime.fromtimestamp(record.create_timestamp, UTC)))
    return problems


def _problem(key: dg.AssetCheckKey, evaluation: dg.AssetCheckEvaluation, since: datetime) -> Problem:
    description = redact((evaluation.description or "failed")[:CHECK_DESCRIPTION_LENGTH])
    listeners_failed = evaluation.metadata.get(LISTENERS_FAILED)
    failed = (
        sorted(listeners_failed.value)
        if listeners_failed and isinstance(listeners_failed.value, dict)
        else []
    )
    if key.name == GAP_CHECK:
        risk = "Plays on those days may be missing for good (a data export import can fill them in silver)."
        fix = "import a Spotify data export of those days (`spotify-assets history-range FOLDER` says how)"
    elif key.name == CAPTURED_CHECK:
        risk = PLAYS_AT_RISK
        fix = fix_for(description, failed[0] if len(failed) == 1 else None, capture=True)
    else:
        risk = (
            "Tables or reports of the checked days may be wrong (a blocking check stops the assets after it)."
        )
        fix = fix_for(description, None, capture=False) if "`" in description else GENERIC_FIX
    severity = evaluation.severity.value
    return Problem(
        key=f"check/{check_key_text(key)}",
        what=f"The check {key.name} of {key.asset_key.to_user_string()} fails ({severity})",
        since=since,
        risk=risk,
        fix=fix,
        listener=", ".join(failed) or None,
        cause=description,
        over=f"The check {key.name} of {key.asset_key.to_user_string()} passes again",
    )
