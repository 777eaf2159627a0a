"""`spotify-assets status`: one screen that answers "is it healthy?", exit code 0 only when nothing needs
action (so cron or a monitor can call it), `--json` for machines."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from spotify_assets.assets.partitions import build_daily_partitions
from spotify_assets.contracts.listener_scope import DEFAULT_LISTENER
from spotify_assets.contracts.settings import Settings
from spotify_assets.operations.alerts.check_problems import watched_check_keys
from spotify_assets.operations.alerts.watch import Watch, look
from spotify_assets.operations.listeners import Listener, listener_instance
from spotify_assets.quality.checks import build_checks

FAILED_RUNS_WINDOW = timedelta(hours=24)
DAEMON_TOLERANCE = timedelta(minutes=2)
"""A daemon whose newest heartbeat is older than this is not ticking (it beats every 30 s)."""
DAEMON_NAMES = {"SCHEDULER": "schedules", "SENSOR": "sensors", "QUEUED_RUN_COORDINATOR": "run queue"}
"""The daemons `status` watches, in the order it names them."""
FACT_ASSET_KEY = dg.AssetKey(["gold", "fact_recently_played"])


@dataclass
class Status:
    """Everything `status` shows, as plain values (what `--json` prints)."""

    report: dict[str, Any]

    @property
    def needs_action(self) -> bool:
        return bool(self.report["needs_action"]) or not all(
            d["ticking"] for d in self.report["daemon"].values()
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def _listener_rows(watch: Watch) -> list[dict[str, Any]]:
    tokens: dict[str, Listener] = {
        DEFAULT_LISTENER if listener.default else listener.name: listener
        for listener in watch.listeners
        if listener.registered or listener.default
    }
    rows = []
    for name in [*watch.captures, *(name for name in tokens if name not in watch.captures)]:
        capture = watch.captures.get(name)
        token = tokens.get(name)
        rows.append(
            {
                "listener": name,
                "last_capture": _iso(capture.last_capture) if capture else None,
                "checked_through": _iso(capture.checked_through) if capture else None,
                "token": token.state if token else "sample" if not watch.listeners else "-",
                "reauthorize_by": f"{token.reauthorization_due:%Y-%m-%d}"
                if token and token.reauthorization_due
                else None,
                "possible_gap_days": sorted(capture.gap_days) if capture else [],
            }
        )
    return rows


def _failed_runs(instance: dg.DagsterInstance, now: datetime) -> list[dict[str, Any]]:
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE], updated_after=now - FAILED_RUNS_WINDOW)
    )
    return [
        {
            "run_id": record.dagster_run.run_id,
            "job": record.dagster_run.job_name,
            "listener": record.dagster_run.tags.get("spotify_assets/listener"),
            "ended": _iso(datetime.fromtimestamp(record.end_time, UTC) if record.end_time else None),
        }
        for record in records
    ]


def _daemon(instance: dg.DagsterInstance, now: datetime) -> dict[str, dict[str, Any]]:
    heartbeats = instance.get_daemon_heartbeats()
    daemons = {}
    required = instance.get_required_daemon_types()
    for kind in DAEMON_NAMES:
        if kind not in required:
            continue
        beat = heartbeats.get(kind)
        at = datetime.fromtimestamp(beat.timestamp, UTC) if beat else None
        daemons[DAEMON_NAMES[kind]] = {
            "last_heartbeat": _iso(at),
            "ticking": at is not None and now - at <= DAEMON_TOLERANCE,
            "errors": len(beat.errors or []) if beat else 0,
        }
    return daemons


def collect(instance: dg.DagsterInstance, settings: Settings, now: datetime | None = None) -> Status:
    """Look at the deployment once: listeners, failed runs, gold, the daemon and what needs action."""
    now = now or datetime.now(UTC)
    keys = watched_check_keys(build_checks(build_daily_partitions(settings)))
    watch = look(instance, settings, keys, now)
    gold = instance.get_materialized_partitions(FACT_ASSET_KEY)
    return Status(
        {
            "now": _iso(now),
            "listeners": _listener_rows(watch),
            "runs_failed_24h": _failed_runs(instance, now),
            "newest_gold_day": max(gold) if gold else None,
            "daemon": _daemon(instance, now),
            "needs_action": [
                {
                    "incident": problem.key,
                    "what": problem.what,
                    "listener": problem.listener,
                    "since": _iso(problem.since),
                    "fix": problem.fix,
                }
                for problem in sorted(watch.problems, key=lambda p: p.since)
            ],
        }
    )


def _short(iso: str | None) -> str:
    return iso.replace("T", " ")[:16] if iso else "-"


def status_lines(status: Status) -> list[str]:
    """The screen: a verdict, a table of listeners, failed runs, gold, the daemon, and what to do."""
    report = status.report
    actions = report["needs_action"]
    verdict = "needs action" if status.needs_action else "healthy: nothing needs action"
    lines = [f"spotify-assets status at {_short(report['now'])} UTC: {verdict}", ""]
    table = [["LISTENER", "LAST CAPTURE", "CHECKED THROUGH", "TOKEN", "RE-AUTHORISE BY", "GAP DAYS (30 D)"]]
    for row in report["listeners"]:
        gaps = row["possible_gap_days"]
        table.append(
            [
                row["listener"],
                _short(row["last_capture"]),
                _short(row["checked_through"]),
                row["token"],
                row["reauthorize_by"] or "-",
                f"{len(gaps)}" + (f" ({', '.join(gaps[-3:])})" if gaps else ""),
            ]
        )
    if len(table) == 1:
        table.append(["(none)", "-", "-", "-", "-", "-"])
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines += [
        "  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)).rstrip() for r in table
    ]
    failed = report["runs_failed_24h"]
    by_job: dict[str, int] = {}
    for run in failed:
        by_job[run["job"]] = by_job.get(run["job"], 0) + 1
    jobs = ", ".join(f"{job} {count}" for job, count in sorted(by_job.items()))
    lines += [
        "",
        f"Runs failed in the last 24 h: {len(failed)}" + (f" ({jobs})" if jobs else ""),
        f"Newest day in gold: {report['newest_gold_day'] or 'none yet'}",
        "Daemon: " + _daemon_text(report["daemon"]),
    ]
    if actions:
        lines += ["", "Needs action:"]
        for action in actions:
            lines.append(f"  - {action['what']} (since {_short(action['since'])} UTC). Fix: {action['fix']}")
    return lines


def _daemon_text(daemons: dict[str, dict[str, Any]]) -> str:
    if not daemons:
        return "no daemon needed by this instance"
    if all(daemon["ticking"] for daemon in daemons.values()):
        oldest = min(_short(daemon["last_heartbeat"]) for daemon in daemons.values())
        return f"{', '.join(daemons)} ticking (last heartbeats at {oldest} UTC or later)"
    stopped = [name for name, daemon in daemons.items() if not daemon["ticking"]]
    beats = {_short(daemons[name]["last_heartbeat"]) for name in stopped}
    return (
        f"{', '.join(stopped)} NOT ticking (last heartbeat {', '.join(sorted(beats))}): start dagster-daemon "
        "(`spotify-assets serve`, or the daemon's container)"
    )


def run_status(settings: Settings, as_json: bool, print_fn: Callable[[str], None] = print) -> int:
    """`spotify-assets status [--json]`: print the status; exit code 0 when nothing needs action, else 1."""
    with listener_instance(settings) as instance:
        status = collect(instance, settings)
    if as_json:
        print_fn(json.dumps({**status.report, "healthy": not status.needs_action}, indent=2))
    else:
        for line in status_lines(status):
            print_fn(line)
    return 1 if status.needs_action else 0
