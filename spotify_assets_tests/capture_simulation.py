"""Days of listening on a simulated clock, captured by the project's own schedules against the fake Spotify.

A listener's plays are generated from sessions; outages make Spotify answer 429 (Retry-After two hours) to
every request. Every tick of the two schedules' crons within the simulated periods is evaluated with the
schedule definitions themselves, and each run request is executed in process on one Dagster instance, with the
fake's clock at the tick (plus a few seconds). Between periods nobody listens and the clock jumps ahead.
What must have been captured is computed independently: a play is capturable when, at some
tick outside an outage, it was among the last 50 plays Spotify listed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from spotify_assets.assets.raw import RAW_RECENTLY_PLAYED
from spotify_assets.quality.raw_checks import recorded_gap_days
from spotify_assets_tests.fake_spotify import FakeSpotify, rate_limited, synthetic_play
from spotify_assets_tests.helpers import schedule_requests

RUN_DELAY = timedelta(seconds=5)  # a run starts this long after its tick
RETENTION = 50


@dataclass(frozen=True)
class Session:
    """Back-to-back plays from `start` (local time) until `end`, each lasting between the two lengths."""

    start: str
    end: str
    shortest_s: int = 150
    longest_s: int = 280


@dataclass(frozen=True)
class Play:
    """A simulated play: stamped with its start (as Spotify does for some plays), listed once it ends."""

    played_at: datetime
    listed_at: datetime
    number: int


@dataclass
class Simulation:
    """A listening scenario in a time zone, and what happened when it was captured."""

    timezone: str
    periods: list[tuple[str, str]]
    sessions: list[Session]
    outages: list[tuple[str, str]] = field(default_factory=list)
    seed: int = 7
    plays: list[Play] = field(default_factory=list)
    capture_runs: int = 0
    failed_capture_runs: int = 0
    daily_runs: int = 0
    failed_daily_runs: int = 0

    def moment(self, local: str) -> datetime:
        """A local 'YYYY-MM-DD HH:MM' as an aware UTC datetime."""
        return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(self.timezone)).astimezone(UTC)

    def generate(self) -> list[Play]:
        """The sessions' plays, deterministic for the seed."""
        rng = random.Random(self.seed)
        plays: list[Play] = []
        for session in self.sessions:
            moment, end = self.moment(session.start), self.moment(session.end)
            while moment < end:
                length = timedelta(seconds=rng.randint(session.shortest_s, session.longest_s))
                plays.append(Play(moment, moment + length, len(plays)))
                moment += length
        self.plays = plays
        return plays

    def in_outage(self, moment: datetime) -> bool:
        return any(self.moment(a) <= moment < self.moment(b) for a, b in self.outages)

    def day(self, moment: datetime) -> str:
        return moment.astimezone(ZoneInfo(self.timezone)).date().isoformat()

    def capturable(self, run_ticks: list[tuple[datetime, bool]]) -> set[int]:
        """Plays that were among the last 50 listed at some run outside an outage (independent model): any
        capture run's, or a daily run's when the play is of a day that had ended."""
        seen: set[int] = set()
        for tick, daily in run_ticks:
            now = tick + RUN_DELAY
            if self.in_outage(now):
                continue
            listed = [play for play in self.plays if play.listed_at <= now]
            listed.sort(key=lambda play: play.played_at, reverse=True)
            today = self.day(tick)
            seen.update(p.number for p in listed[:RETENTION] if not daily or self.day(p.played_at) < today)
        return seen


def ticks(schedule: dg.ScheduleDefinition, start: datetime, end: datetime) -> Iterator[datetime]:
    """The schedule's own cron ticks in [start, end), in its execution time zone."""
    from dagster._utils.schedules import cron_string_iterator

    zone = schedule.execution_timezone or "UTC"
    for tick in cron_string_iterator(start.timestamp(), schedule.cron_schedule, zone):
        if tick >= end:
            return
        yield tick.astimezone(UTC)


def run(
    simulation: Simulation, defs: dg.Definitions, fake: FakeSpotify, instance: dg.DagsterInstance
) -> list[tuple[datetime, bool]]:
    """Evaluate every tick of both schedules in order and execute their run requests; returns the ticks, each
    with whether it was the daily schedule's (both fetch from Spotify: the daily job captures raw too)."""
    fake.items = [synthetic_play(play.played_at, play.number) for play in simulation.generate()]
    fake.listed_at = {
        item["played_at"]: play.listed_at for item, play in zip(fake.items, simulation.plays, strict=True)
    }
    fake.retention = RETENTION
    schedules = {schedule.name: schedule for schedule in defs.schedules}
    daily, capture = schedules["medallion_daily_schedule"], schedules["raw_capture_intraday_schedule"]
    events = []
    for first, last in simulation.periods:
        start, end = simulation.moment(first), simulation.moment(last)
        events += [(tick, 0, daily) for tick in ticks(daily, start, end)]
        events += [(tick, 1, capture) for tick in ticks(capture, start, end)]
    events.sort(key=lambda event: (event[0], event[1]))
    for tick, _, schedule in events:
        fake.now = tick + RUN_DELAY
        fake.unavailable = rate_limited(7200) if simulation.in_outage(fake.now) else None
        for request in schedule_requests(defs, schedule.name, instance, tick):
            result = defs.resolve_job_def(schedule.job_name).execute_in_process(
                instance=instance,
                partition_key=request.partition_key,
                tags=request.tags,
                raise_on_error=False,
            )
            if schedule is capture:
                simulation.capture_runs += 1
                simulation.failed_capture_runs += not result.success
            else:
                simulation.daily_runs += 1
                simulation.failed_daily_runs += not result.success
    fake.unavailable = None
    return [(tick, schedule is daily) for tick, _, schedule in events]


def flagged_days(instance: dg.DagsterInstance, days: list[str]) -> list[str]:
    """The days the raw captures recorded as possible gaps (what the `no_possible_gap` check reads)."""
    return recorded_gap_days(instance, RAW_RECENTLY_PLAYED, days)
