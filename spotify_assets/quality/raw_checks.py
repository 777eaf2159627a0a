"""Asset checks of raw recently-played: possible gaps, every listener captured, Spotify tokens fresh.

All three are warnings or non-blocking: a capture that stored what it could is never held back by them. They
run as one step (`raw_capture_checks`, each check still its own in the UI and executable alone): three steps
cost a run Dagster's start and end of two steps more.
"""

# No `from __future__ import annotations`: Dagster reads the resource annotations at runtime.

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import dagster as dg

from spotify_assets.assets.raw import LISTENERS_FAILED, RAW_RECENTLY_PLAYED
from spotify_assets.contracts.listener_scope import LISTENER_PARTITIONS, listeners_of_run
from spotify_assets.quality import capture_rules
from spotify_assets.quality.check_results import checked_partitions, to_result
from spotify_assets.quality.outcome import Outcome
from spotify_assets.sources.resource import SpotifyResource
from spotify_assets.sources.token_store import auth_command, load_token, reauthorization_due


def recorded_gap_days(instance: dg.DagsterInstance, key: dg.AssetKey, partitions: Sequence[str]) -> list[str]:
    """The days among `partitions` that any extraction recorded as a possible gap (`possible_gap_days`).

    A gap stays: plays the API forgot do not come back with a later capture (a data-export import can fill
    them in silver, but raw recently-played still misses them).
    """
    gap_days: set[str] = set()
    records_filter = dg.AssetRecordsFilter(asset_key=key, asset_partitions=list(partitions))
    cursor = None
    while True:
        page = instance.fetch_materializations(records_filter, limit=1000, cursor=cursor)
        for record in page.records:
            materialization = record.asset_materialization
            entry = materialization.metadata.get("possible_gap_days") if materialization else None
            if entry is not None and entry.value:
                gap_days.update(day.strip() for day in str(entry.value).split(","))
        if not page.has_more:
            break
        cursor = page.cursor
    return sorted(gap_days & set(partitions))


NO_POSSIBLE_GAP = "no_possible_gap"
EVERY_LISTENER_CAPTURED = "every_listener_captured"
SPOTIFY_AUTHORIZATION_FRESH = "spotify_authorization_fresh"


def no_possible_gap(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """`NO_POSSIBLE_GAP` over the checked partitions (its description: `RAW_CHECK_SPECS`)."""
    partitions = checked_partitions(context, RAW_RECENTLY_PLAYED)
    gap_days = recorded_gap_days(context.instance, RAW_RECENTLY_PLAYED, partitions)
    return to_result(
        RAW_RECENTLY_PLAYED, NO_POSSIBLE_GAP, capture_rules.no_possible_gap(gap_days), partitions
    )


RUN_EVENTS_LOOKBACK = 200
"""Raw materializations searched for this run's capture (its check runs right after it)."""


def run_capture_failures(instance: dg.DagsterInstance, run_id: str) -> dict[str, str] | None:
    """`listeners_failed` of this run's capture (listener -> why), or None when the run captured nothing."""
    records = instance.fetch_materializations(RAW_RECENTLY_PLAYED, limit=RUN_EVENTS_LOOKBACK).records
    for record in records:
        if record.run_id == run_id and record.asset_materialization is not None:
            entry = record.asset_materialization.metadata.get(LISTENERS_FAILED)
            return dict(entry.value) if entry is not None and isinstance(entry.value, dict) else {}
    return None


def every_listener_captured(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """`EVERY_LISTENER_CAPTURED` for this run's capture."""
    failures = run_capture_failures(context.instance, context.run.run_id)
    if not failures:
        note = "no capture in this run" if failures is None else "every listener of the run was captured"
        return to_result(RAW_RECENTLY_PLAYED, EVERY_LISTENER_CAPTURED, Outcome(True, note), [])
    names = ", ".join(sorted(failures))
    outcome = Outcome(
        False,
        f"not captured: {names} (the other listeners' plays were stored). Run `spotify-assets listeners` "
        "to see each token's state; `spotify-assets auth --listener NAME` renews one.",
        {LISTENERS_FAILED: failures},
    )
    return to_result(RAW_RECENTLY_PLAYED, EVERY_LISTENER_CAPTURED, outcome, [])


def spotify_authorization_fresh(
    context: dg.AssetCheckExecutionContext, spotify: SpotifyResource
) -> dg.AssetCheckResult:
    """`SPOTIFY_AUTHORIZATION_FRESH` for every listener of the install."""
    source = spotify.resolved_source()
    now = datetime.now(UTC)
    registered = list(context.instance.get_dynamic_partitions(LISTENER_PARTITIONS))
    outcomes = {}
    for listener in listeners_of_run({}, registered, source != "live" or spotify.default_has_token()):
        settings = spotify.live_settings(listener) if source == "live" else None
        token = load_token(settings) if settings else None
        authorized_at = token.authorized_at if token else None
        due = reauthorization_due(authorized_at) if authorized_at else None
        command = auth_command(settings) if settings else ""
        outcomes[listener] = capture_rules.authorization_fresh(source, authorized_at, due, now, command)
    outcome = capture_rules.household_authorization_fresh(outcomes)
    return to_result(RAW_RECENTLY_PLAYED, SPOTIFY_AUTHORIZATION_FRESH, outcome, [])


RAW_CHECK_SPECS = [
    dg.AssetCheckSpec(
        NO_POSSIBLE_GAP,
        asset=RAW_RECENTLY_PLAYED,
        blocking=False,
        description="Warns when an extraction of the day found a full page of 50 plays that does not reach "
        "back to anything stored: plays in between may be lost (the raw materializations' "
        "`possible_gap_days`).",
    ),
    dg.AssetCheckSpec(
        EVERY_LISTENER_CAPTURED,
        asset=RAW_RECENTLY_PLAYED,
        blocking=False,
        description="Fails when a household capture stored the other listeners' plays but not some "
        "listener's (expired token, revoked app, rate limit): their `listeners_failed`, with what to do.",
    ),
    dg.AssetCheckSpec(
        SPOTIFY_AUTHORIZATION_FRESH,
        asset=RAW_RECENTLY_PLAYED,
        blocking=False,
        description="Warns two weeks before a Spotify refresh token's six-month expiry (or when its consent "
        "date is unknown), for every listener, so that `spotify-assets auth` runs before captures fail. "
        "Passes on the sample source.",
    ),
]


@dg.multi_asset_check(name="raw_recently_played_checks", specs=RAW_CHECK_SPECS, can_subset=True)
def raw_capture_checks(
    context: dg.AssetCheckExecutionContext, spotify: SpotifyResource
) -> Iterable[dg.AssetCheckResult]:
    """The checks of raw recently-played selected for this run, in one step."""
    selected = {key.name for key in context.selected_asset_check_keys}
    if NO_POSSIBLE_GAP in selected:
        yield no_possible_gap(context)
    if EVERY_LISTENER_CAPTURED in selected:
        yield every_listener_captured(context)
    if SPOTIFY_AUTHORIZATION_FRESH in selected:
        yield spotify_authorization_fresh(context, spotify)
