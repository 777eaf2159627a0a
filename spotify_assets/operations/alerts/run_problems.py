"""Failed runs as problems: for each kind of run (job, listener, assets), a failure newer than its last
success is an open problem, whatever number of runs failed since."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime, timedelta

import dagster as dg

from spotify_assets.contracts.listener_scope import DEFAULT_LISTENER, LISTENER_TAG
from spotify_assets.operations.alerts.fixes import fix_for
from spotify_assets.operations.alerts.problems import CAPTURE_JOB, PLAYS_AT_RISK, Problem, listener_label
from spotify_assets.operations.alerts.redact import redact

RUNS_LOOKBACK = timedelta(days=7)
RUNS_LIMIT = 5000
OLDER_RUNS_LIMIT = 1000
"""Runs of one job looked at for an announced failure older than RUNS_LOOKBACK."""
RUN_KEY_PREFIX = "run/"
ASSET_JOBS = ("__ASSET_JOB", "__ephemeral_asset_job__")
"""Runs of a selection of assets, not of a named job: the UI's Materialize, `dagster asset materialize`."""
DAILY_JOB = "medallion_daily"
CAUSE_LENGTH = 300
FAILURE_EVENTS = {dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE}


def run_key(run: dg.DagsterRun) -> str:
    """Which runs stand for one another: a success of the same key ends the problem a failure opened."""
    listener = run.tags.get(LISTENER_TAG)
    parts = [RUN_KEY_PREFIX.rstrip("/"), run.job_name]
    if run.job_name in ASSET_JOBS and run.asset_selection:
        parts.append(_assets(run))
    if listener and listener != DEFAULT_LISTENER:
        parts.append(listener)
    return "/".join(parts)


def _assets(run: dg.DagsterRun) -> str:
    keys = sorted(key.to_user_string() for key in run.asset_selection or ())
    return ",".join(keys) if len(keys) <= 3 else f"{','.join(keys[:3])},+{len(keys) - 3}"


def is_capture(run: dg.DagsterRun) -> bool:
    return run.job_name == CAPTURE_JOB


UNUPDATED_ASSETS = (
    "The run's assets are not updated for its days (the lake and the warehouse keep what they had)."
)


def _texts(run: dg.DagsterRun) -> tuple[str, str, str]:
    """What fails, what its recovery says, and what is at risk, by the kind of run."""
    if is_capture(run):
        who = listener_label(run.tags.get(LISTENER_TAG, DEFAULT_LISTENER))
        return f"The capture of {who} fails", f"The capture of {who} works again", PLAYS_AT_RISK
    if run.job_name == DAILY_JOB:
        return (
            "The daily run (raw, silver, gold and the report) fails",
            "The daily run works again",
            "The failed days are missing from silver, gold, the report and BI; raw keeps their plays, and "
            "the daily run rebuilds up to the last 7 days once it works again.",
        )
    if run.job_name in ASSET_JOBS:
        assets = _assets(run) or "assets"
        return (
            f"A run of {assets} (launched by hand, an import or a rebuild) failed",
            f"A run of {assets} succeeded again",
            UNUPDATED_ASSETS,
        )
    return f"Runs of {run.job_name} fail", f"Runs of {run.job_name} succeed again", UNUPDATED_ASSETS


def failure_cause(instance: dg.DagsterInstance, run_id: str) -> str:
    """The first step failure's message (a `Failure`'s description), else the run failure's; redacted."""
    records = instance.get_records_for_run(run_id, of_type=FAILURE_EVENTS).records
    texts: list[str] = []
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            data = event.step_failure_data
            user = data.user_failure_data
            text = (user.description if user and user.description else None) or (
                data.error.message if data.error else ""
            )
            texts.insert(0, text)
        else:
            texts.append(event.message or record.event_log_entry.user_message)
    text = next((text.strip() for text in texts if text and text.strip()), "no error recorded")
    return redact(_sentences(text.splitlines()[0], CAUSE_LENGTH))


def _sentences(text: str, limit: int) -> str:
    """`text`, or as many of its first sentences as fit in `limit` characters (else its first `limit`)."""
    if len(text) <= limit:
        return text
    end = text.rfind(". ", 0, limit)
    return text[: end + 1] if end > 0 else text[:limit] + "..."


def run_problems(
    instance: dg.DagsterInstance, now: datetime, still_open: Collection[str] = ()
) -> list[Problem]:
    """One problem per kind of run whose newest finished run failed: among the runs of the last
    RUNS_LOOKBACK, and for each key of `still_open` (incidents already announced) that has no run there,
    among its job's older runs, so a failure nobody re-ran stays open until a run of its kind succeeds."""
    records = list(
        instance.get_run_records(
            filters=dg.RunsFilter(
                statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE],
                updated_after=now - RUNS_LOOKBACK,
            ),
            limit=RUNS_LIMIT,
        )
    )
    seen = {run_key(record.dagster_run) for record in records}
    for key in sorted(set(still_open) - seen):
        if key.startswith(RUN_KEY_PREFIX):
            records += [record for record in _older_runs(instance, key) if run_key(record.dagster_run) == key]
    problems = []
    for failures in _open_failures(records).values():
        newest, oldest = failures[0], failures[-1]
        run = newest.dagster_run
        listener = run.tags.get(LISTENER_TAG, DEFAULT_LISTENER if is_capture(run) else None)
        cause = failure_cause(instance, run.run_id)
        what, over, risk = _texts(run)
        problems.append(
            Problem(
                key=run_key(run),
                what=what,
                since=_ended(oldest),
                began=oldest.create_timestamp.astimezone(UTC),
                risk=risk,
                fix=fix_for(cause, listener, is_capture(run)),
                listener=listener,
                over=over,
                cause=f"{cause} ({len(failures)} failed run{'s' if len(failures) > 1 else ''}, newest "
                f"{run.run_id[:8]})",
            )
        )
    return problems


def _older_runs(instance: dg.DagsterInstance, key: str) -> list[dg.RunRecord]:
    """The newest finished runs (up to OLDER_RUNS_LIMIT) of the job a run key names, however old."""
    job_name = key.split("/")[1]
    return list(
        instance.get_run_records(
            filters=dg.RunsFilter(
                job_name=job_name, statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]
            ),
            limit=OLDER_RUNS_LIMIT,
        )
    )


def _ended(record: dg.RunRecord) -> datetime:
    if record.end_time is not None:
        return datetime.fromtimestamp(record.end_time, UTC)
    return record.update_timestamp.astimezone(UTC)


def _open_failures(records: Iterable[dg.RunRecord]) -> dict[str, list[dg.RunRecord]]:
    """Per run key, the failed runs newer than its newest success (newest first), if any."""
    by_key: dict[str, list[dg.RunRecord]] = {}
    for record in records:
        by_key.setdefault(run_key(record.dagster_run), []).append(record)
    failing = {}
    for key, runs in by_key.items():
        runs.sort(key=_ended, reverse=True)
        failures = []
        for record in runs:
            if record.dagster_run.status != dg.DagsterRunStatus.FAILURE:
                break
            failures.append(record)
        if failures:
            failing[key] = failures
    return failing
