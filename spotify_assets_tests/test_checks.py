"""The asset checks through real Dagster runs on real storage (embedded PostgreSQL, a local lake): they pass
on good data, fail on data built to break them, and a failed blocking check keeps downstream assets from
running."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from pydantic import PrivateAttr

from spotify_assets.assets.partitions import build_daily_partitions
from spotify_assets.assets.raw import RAW_RECENTLY_PLAYED
from spotify_assets.assets.report import REPORT_LISTENING
from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.listener_scope import LISTENER_PARTITIONS
from spotify_assets.contracts.settings import get_settings
from spotify_assets.contracts.tables import DIM_ARTIST, FACT_RECENTLY_PLAYED, GOLD_TABLES, PLAYS
from spotify_assets.definitions import build_definitions
from spotify_assets.quality import rules
from spotify_assets.quality.checks import (
    UNIQUE_KEY,
    VALID_VALUES,
    build_checks,
    references_of,
    table_check_specs,
)
from spotify_assets.quality.raw_checks import SPOTIFY_AUTHORIZATION_FRESH, recorded_gap_days
from spotify_assets.quality.table_evaluation import evaluate
from spotify_assets.sources.token_store import StoredToken, write_token_file
from spotify_assets.storage.lake import LakeResource
from spotify_assets.transforms import gold
from spotify_assets.transforms.silver import flatten_recently_played
from spotify_assets_tests.helpers import make_settings, materialize

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

DAY = date(2025, 3, 14)
SILVER = dg.AssetKey(["silver", "plays"])
DIM_TRACK = dg.AssetKey(["gold", "dim_track"])
FACT = dg.AssetKey(["gold", "fact_recently_played"])
GOLD_KEYS = {dg.AssetKey([spec.schema, spec.name]) for spec in GOLD_TABLES}
# One check of the raw checks' step: the others do not run (`can_subset`).
AUTHORIZATION_CHECK = dg.AssetSelection.checks(
    dg.AssetCheckKey(RAW_RECENTLY_PLAYED, SPOTIFY_AUTHORIZATION_FRESH)
)


def run(
    defs: dg.Definitions,
    *,
    replace: dg.AssetsDefinition | None = None,
    selection: dg.AssetSelection | None = None,
    partition: str | None = DAY.isoformat(),
    tags: dict[str, str] | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """One run of the graph and its checks; `replace` swaps in a broken asset under the same key."""
    assets = [a for a in defs.assets if replace is None or a.keys != {replace.key}]
    if replace is not None:  # a gold table is one output of the gold step: the step without it
        assets = [
            a.subset_for(a.keys - {replace.key}, selected_asset_check_keys=None)
            if replace.key in a.keys
            else a
            for a in assets
        ]
    return dg.materialize(
        [*assets, *([replace] if replace else []), *defs.asset_checks],
        resources=defs.resources,
        selection=selection,
        partition_key=partition,
        tags=tags,
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def materialized(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {event.asset_key for event in result.get_asset_materialization_events()}


daily_partitions = build_daily_partitions(get_settings())  # the environment conftest sets
ASSET_CHECKS = build_checks(daily_partitions)
STAND_IN = {
    "partitions_def": daily_partitions,
    "backfill_policy": dg.BackfillPolicy.single_run(),
    "io_manager_key": "lakehouse_io_manager",
}


def broken_gold(key: dg.AssetKey, build: Callable[[pd.DataFrame], pd.DataFrame]) -> dg.AssetsDefinition:
    """A stand-in for a gold asset that builds each partition from the silver plays with `build`."""

    @dg.asset(key=key, group_name="gold", ins={"plays": dg.AssetIn(key=SILVER)}, **STAND_IN)
    def stand_in(plays: DayBatches) -> DayBatches:
        return DayBatches.of({day: build(frame) for day, frame in plays.items()})

    return stand_in


def broken_silver(build: Callable[[list[dict]], pd.DataFrame]) -> dg.AssetsDefinition:
    """A stand-in for silver/plays that builds each partition from the raw items with `build`."""

    @dg.asset(key=SILVER, group_name="silver", ins={"raw": dg.AssetIn(key=RAW_RECENTLY_PLAYED)}, **STAND_IN)
    def stand_in(raw: DayBatches) -> DayBatches:
        return DayBatches.of({day: build(payload["items"]) for day, payload in raw.items()})

    return stand_in


@pytest.fixture()
def defs(tmp_path: Path, clean_warehouse) -> dg.Definitions:
    return build_definitions(make_settings(tmp_path, clean_warehouse))


def test_every_check_passes_on_good_data_for_a_day_and_a_range(defs):
    day = run(defs)
    assert day.success
    found = evaluations(day)
    expected = {
        (key.asset_key.to_user_string(), key.name) for check in ASSET_CHECKS for key in check.check_keys
    }
    assert expected <= set(found)
    assert all(e.passed for e in found.values()), [e.description for e in found.values() if not e.passed]
    assert found[("silver/plays", "matches_raw")].metadata["partitions"].value == DAY.isoformat()

    last = DAY + timedelta(days=2)
    tags = {
        "dagster/asset_partition_range_start": DAY.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }
    ranged = run(defs, partition=None, tags=tags)
    assert ranged.success
    found = evaluations(ranged)
    assert all(e.passed for e in found.values())
    checked = found[("gold/fact_recently_played", "matches_silver")]
    assert checked.metadata["partitions"].value == f"{DAY}..{last} (3 days)"
    assert checked.metadata["fact_rows"].value == checked.metadata["silver_rows"].value > 0


def test_a_duplicate_dimension_key_fails_and_keeps_the_report_from_running(defs):
    def duplicated(plays: pd.DataFrame) -> pd.DataFrame:
        tracks = gold.build_dim_track(plays)
        return pd.concat([tracks, tracks.head(1)], ignore_index=True)

    result = run(defs, replace=broken_gold(DIM_TRACK, duplicated))
    assert not result.success
    check = evaluations(result)[("gold/dim_track", "unique_key")]
    assert not check.passed
    assert check.description == "1 duplicated (track_key) values (partitions 2025-03-14)"
    assert DIM_TRACK in materialized(result)  # the broken table was written: the check judged it
    assert REPORT_LISTENING not in materialized(result)  # and the report downstream did not run
    assert FACT in materialized(result)  # assets that do not depend on dim_track were not held back


def test_a_raw_silver_mismatch_fails_and_keeps_gold_from_running(defs):
    def drops_a_play(items: list[dict]) -> pd.DataFrame:
        return flatten_recently_played(items, "demo", "UTC").iloc[1:]

    result = run(defs, replace=broken_silver(drops_a_play))
    assert not result.success
    found = evaluations(result)
    assert not found[("silver/plays", "matches_raw")].passed
    assert found[("silver/plays", "matches_raw")].metadata["missing_from_silver"].value == 1
    assert found[("silver/plays", "unique_key")].passed
    assert {RAW_RECENTLY_PLAYED, SILVER} <= materialized(result)
    assert not (GOLD_KEYS | {REPORT_LISTENING}) & materialized(result)


def test_an_orphan_fact_row_fails_referential_integrity_and_keeps_the_report_from_running(
    defs, clean_warehouse
):
    instance = dg.DagsterInstance.ephemeral()
    assert run(defs, instance=instance).success
    with clean_warehouse.connect() as conn:
        (orphan,) = conn.execute(
            "DELETE FROM gold.dim_track WHERE track_key = "
            "(SELECT track_key FROM gold.fact_recently_played ORDER BY played_at LIMIT 1) RETURNING track_key"
        ).fetchone()
        plays = conn.execute(
            "SELECT count(*) FROM gold.fact_recently_played WHERE track_key = %s", (orphan,)
        ).fetchone()[0]

    result = run(defs, selection=dg.AssetSelection.assets(FACT, REPORT_LISTENING), instance=instance)
    assert not result.success
    check = evaluations(result)[("gold/fact_recently_played", "keys_in_dimensions")]
    assert not check.passed
    assert check.description == f"{plays} rows with track_key -> gold.dim_track missing"
    assert orphan in check.metadata["missing track_key -> gold.dim_track"].value
    assert materialized(result) == {FACT}


def test_a_fact_missing_a_play_fails_matches_silver_and_keeps_the_report_from_running(defs):
    def without_its_first_play(plays: pd.DataFrame) -> pd.DataFrame:
        return gold.build_fact(plays, daily_partitions.timezone).iloc[1:]

    result = run(defs, replace=broken_gold(FACT, without_its_first_play))
    assert not result.success
    check = evaluations(result)[("gold/fact_recently_played", "matches_silver")]
    assert not check.passed
    silver_rows = check.metadata["silver_rows"].value
    assert (check.metadata["fact_rows"].value, silver_rows) == (silver_rows - 1, silver_rows)
    assert (check.metadata["missing_from_fact"].value, check.metadata["not_in_silver"].value) == (1, 0)
    assert REPORT_LISTENING not in materialized(result)


def test_a_check_run_on_its_own_checks_the_latest_partition(defs):
    instance = dg.DagsterInstance.ephemeral()
    assert run(defs, instance=instance).success
    result = run(
        defs, selection=dg.AssetSelection.checks_for_assets(SILVER), partition=None, instance=instance
    )
    assert result.success
    found = evaluations(result)
    assert set(found) == {("silver/plays", name) for name in ("unique_key", "valid_values", "matches_raw")}
    assert {e.metadata["partitions"].value for e in found.values()} == {DAY.isoformat()}
    assert not materialized(result)


def test_one_gold_check_runs_alone_though_the_gold_checks_share_a_step(defs):
    instance = dg.DagsterInstance.ephemeral()
    assert run(defs, instance=instance).success
    alone = dg.AssetCheckKey(DIM_ARTIST.asset_key, UNIQUE_KEY)
    result = run(defs, selection=dg.AssetSelection.checks(alone), partition=None, instance=instance)
    assert result.success
    assert list(evaluations(result)) == [("gold/dim_artist", UNIQUE_KEY)]
    assert evaluations(result)[("gold/dim_artist", UNIQUE_KEY)].metadata["rows_checked"].value > 0
    assert not materialized(result)


@pytest.mark.parametrize(
    ("authorized_days_ago", "passed", "text"),
    [(30, True, "valid until"), (170, False, "expires on"), (None, False, "unknown")],
)
def test_the_authorization_check_warns_two_weeks_before_the_token_expires(
    tmp_path, clean_warehouse, monkeypatch, authorized_days_ago, passed, text
):
    token_file = tmp_path / "token.json"
    authorized_at = (
        datetime.now(UTC) - timedelta(days=authorized_days_ago) if authorized_days_ago is not None else None
    )
    write_token_file(token_file, StoredToken(refresh_token="refresh", authorized_at=authorized_at))
    monkeypatch.setenv("SPOTIFY_TOKEN_FILE", str(token_file))
    get_settings.cache_clear()
    try:
        defs = build_definitions(make_settings(tmp_path, clean_warehouse, spotify_source="live"))
        result = run(defs, selection=AUTHORIZATION_CHECK, partition=None)
    finally:
        get_settings.cache_clear()
    assert result.success  # a warning never fails the run
    (check,) = result.get_asset_check_evaluations()
    assert (check.passed, check.severity) == (passed, dg.AssetCheckSeverity.WARN)
    assert text in check.description


def test_the_authorization_check_names_each_listener_whose_token_is_due(tmp_path, clean_warehouse):
    token_dir = tmp_path / "tokens"
    now = datetime.now(UTC)
    for name, days_ago in (("alice", 30), ("bob", 175)):
        token = StoredToken(refresh_token=f"refresh-{name}", authorized_at=now - timedelta(days=days_ago))
        write_token_file(token_dir / f"{name}.json", token)
    settings = make_settings(
        tmp_path,
        clean_warehouse,
        spotify_source="live",
        spotify_token_dir=str(token_dir),
        spotify_token_file=str(tmp_path / "none.json"),  # no default listener's token
    )
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.add_dynamic_partitions(LISTENER_PARTITIONS, ["alice", "bob"])
        result = run(
            build_definitions(settings),
            selection=AUTHORIZATION_CHECK,
            partition=None,
            instance=instance,
        )
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description.startswith("bob: the Spotify refresh token expires on")
    assert "spotify-assets auth --listener bob" in check.description and "alice" not in check.description


def test_the_authorization_check_passes_on_the_sample_source(defs):
    result = run(defs, selection=AUTHORIZATION_CHECK, partition=None)
    (check,) = result.get_asset_check_evaluations()
    assert check.passed
    assert check.description == "the sample source needs no Spotify authorisation"


def test_the_gap_check_remembers_every_extraction_of_a_partition():
    instance = dg.DagsterInstance.ephemeral()
    days = ["2025-03-14", "2025-03-15"]

    def extracted(day: str, gap_days: str) -> None:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                RAW_RECENTLY_PLAYED, partition=day, metadata={"possible_gap_days": gap_days}
            )
        )

    extracted(days[0], "")
    extracted(days[1], days[1])
    assert recorded_gap_days(instance, RAW_RECENTLY_PLAYED, days) == [days[1]]
    assert recorded_gap_days(instance, RAW_RECENTLY_PLAYED, days[:1]) == []
    extracted(days[1], "")  # a later capture does not bring back what the API forgot
    assert recorded_gap_days(instance, RAW_RECENTLY_PLAYED, days) == [days[1]]
    extracted(days[0], ", ".join(days))  # a range run that found gaps on both days
    assert recorded_gap_days(instance, RAW_RECENTLY_PLAYED, days[:1]) == [days[0]]


class CountingLake(LakeResource):
    """A local lake that counts the reads of each object."""

    _reads: Counter[str] = PrivateAttr(default_factory=Counter)

    def read_object(self, key: str, partition_key: str) -> bytes | None:
        self._reads[key] += 1
        return super().read_object(key, partition_key)


def test_a_range_check_reads_each_object_once_and_judges_as_each_rule_alone(tmp_path, clean_warehouse):
    first, last = date(2025, 1, 1), date(2025, 3, 10)  # 69 days: three batches of 31 days
    settings = make_settings(tmp_path, clean_warehouse)
    materialize(settings, first, last)
    days = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    for spec in (PLAYS, FACT_RECENTLY_PLAYED, DIM_ARTIST):
        lake = CountingLake(local_dir=settings.lake_dir)
        names = [check.name for check in table_check_specs(spec)]
        references = references_of(spec)
        results = list(evaluate(spec, names, references, "UTC", days, lake, clean_warehouse))
        assert [r.check_name for r in results] == names and all(r.passed for r in results)
        objects = {key: n for key, n in lake._reads.items() if key.startswith(f"{spec.schema}/")}
        assert len(objects) == len(days) and set(objects.values()) == {1}, spec.qualified_name
        alone = LakeResource(local_dir=settings.lake_dir)
        path = [spec.schema, spec.name]

        def rows() -> DayBatches:
            return DayBatches(days, lambda keys: alone.read_table_partitions(path, keys, spec))  # noqa: B023

        by_name = {r.check_name: r for r in results}
        for name, outcome in (
            (UNIQUE_KEY, rules.unique_key(rows(), spec)),
            (VALID_VALUES, rules.valid_values(rows(), spec, "UTC")),
        ):
            assert by_name[name].description == outcome.description
            assert by_name[name].metadata["rows_checked"].value == outcome.metadata["rows_checked"] > 0
