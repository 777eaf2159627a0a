"""Every problem of a deployment now: failed runs, failed checks, late captures and tokens due."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import dagster as dg

from spotify_assets.contracts.listener_scope import LISTENER_PARTITIONS, listeners_of_run
from spotify_assets.contracts.settings import Settings
from spotify_assets.operations.alerts.capture_state import ListenerCaptures, read_captures
from spotify_assets.operations.alerts.check_problems import check_problems
from spotify_assets.operations.alerts.problems import (
    CAPTURE_SCHEDULE,
    PLAYS_AT_RISK,
    Problem,
    capture_run_key,
    listener_label,
)
from spotify_assets.operations.alerts.run_problems import run_problems
from spotify_assets.operations.alerts.token_problems import token_problems
from spotify_assets.operations.listeners import Listener, list_listeners
from spotify_assets.sources.resource import SpotifyResource

GAP_WINDOW = timedelta(days=30)


@dataclass
class Watch:
    """What one look at the deployment found: the problems, and each household listener's captures."""

    problems: list[Problem]
    captures: dict[str, ListenerCaptures]
    listeners: list[Listener]


def household(instance: dg.DagsterInstance, settings: Settings) -> list[str]:
    """The listeners the capture schedule captures (as `capture_requests` finds them)."""
    registered = list(instance.get_dynamic_partitions(LISTENER_PARTITIONS))
    spotify = SpotifyResource.from_settings(settings, settings.partitions_timezone)
    return listeners_of_run({}, registered, spotify.default_has_token())


def schedule_running(instance: dg.DagsterInstance, name: str) -> bool:
    """Whether the schedule `name` is started (in any code location of this instance)."""
    from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType  # see LAZY_IMPORTS

    states = instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
    return any(state.name == name and state.status == InstigatorStatus.RUNNING for state in states)


def _stale_problems(
    instance: dg.DagsterInstance,
    captures: dict[str, ListenerCaptures],
    open_problems: dict[str, Problem],
    now: datetime,
    threshold: timedelta,
) -> list[Problem]:
    """A listener whose newest capture is older than `threshold`, unless their captures were already failing
    when they became late (the first failed capture was launched before, however long it took to end: that
    failure is then the one incident); it lasts until a capture succeeds."""
    problems = []
    running = None
    for listener, capture in captures.items():
        if capture.last_capture is None or now - capture.last_capture <= threshold:
            continue
        late_since = capture.last_capture + threshold
        failing = open_problems.get(capture_run_key(listener))
        if failing is not None and (failing.began or failing.since) <= late_since:
            continue
        if failing is not None:  # late first (the daemon down, say), failing since: only a capture ends it
            fix, cause = failing.fix, f"{failing.what} (since {failing.since:%Y-%m-%d %H:%M} UTC)"
        else:
            if running is None:
                running = schedule_running(instance, CAPTURE_SCHEDULE)
            fix = (
                "check that dagster-daemon runs and that runs leave the queue (`spotify-assets status`); "
                "restart it with `spotify-assets serve` (or the daemon's container)"
                if running
                else f"start the schedule {CAPTURE_SCHEDULE} (Dagster UI, Automation); keep dagster-daemon up"
            )
            cause = f"the capture schedule is {'running' if running else 'stopped'}"
        problems.append(
            Problem(
                key=f"stale/{listener}",
                what=f"No capture of {listener_label(listener)} for {_duration(now - capture.last_capture)}",
                since=capture.last_capture,
                risk=PLAYS_AT_RISK,
                fix=fix,
                listener=listener,
                over=f"{listener_label(listener).capitalize()} is captured again",
                cause=cause,
            )
        )
    return problems


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def look(
    instance: dg.DagsterInstance,
    settings: Settings,
    check_keys: Sequence[dg.AssetCheckKey],
    now: datetime,
    still_open: Collection[str] = (),
) -> Watch:
    """Every open problem at `now`, with the captures and token states they were judged from; `still_open`
    are the keys of incidents already announced (a failed run among them is looked for however old)."""
    listeners = list_listeners(instance, settings, now) if settings.resolved_source == "live" else []
    captures = read_captures(instance, household(instance, settings), now - GAP_WINDOW)
    problems = run_problems(instance, now, still_open) + check_problems(instance, check_keys)
    open_problems = {problem.key: problem for problem in problems}
    threshold = timedelta(seconds=settings.alerts.stale_capture_seconds)
    problems += _stale_problems(instance, captures, open_problems, now, threshold)
    problems += token_problems(listeners, now)
    return Watch(problems, captures, listeners)
