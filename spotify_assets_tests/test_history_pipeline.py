"""Importing data exports end to end: export folder -> raw -> silver -> gold on real storage, one run each."""

import collections
import copy
import json
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest

from spotify_assets.storage.bi import ensure_views
from spotify_assets.transforms.keys import derived_key
from spotify_assets_tests.helpers import lake_digest, make_settings, run_totals, warehouse_tables
from spotify_assets_tests.history_runs import export_copy, run, write_export

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

EXTENDED_FILE = "Streaming_History_Audio_2022.json"
FIRST, LAST = date(2022, 12, 1), date(2022, 12, 14)  # 16 rows of the fixture, one of them logged twice
SHORT_FIRST, SHORT_LAST = date(2022, 12, 13), date(2022, 12, 14)  # 7 rows on the 14th
ACCOUNT_FIRST, ACCOUNT_LAST = date(2023, 10, 2), date(2023, 10, 4)


def per_day(frame, column="extraction_date") -> dict[str, int]:
    return {str(day): count for day, count in frame.groupby(column).size().items() if count}


def in_range(day: str, first: date, last: date) -> bool:
    return first.isoformat() <= day <= last.isoformat()


def test_extended_history_imports_in_one_run(tmp_path, clean_warehouse, fixtures_dir):
    folder = fixtures_dir / "extended_history"
    rows = json.loads((folder / EXTENDED_FILE).read_text())
    result = run(make_settings(tmp_path, clean_warehouse, history_dir=str(folder)), FIRST, LAST)
    tables = warehouse_tables(clean_warehouse)

    # Independent count: one play per (ts, track uri) on each day of the run.
    plays = {(r["ts"], r["spotify_track_uri"]) for r in rows if in_range(r["ts"][:10], FIRST, LAST)}
    expected = dict(collections.Counter(ts[:10] for ts, _ in plays))
    assert per_day(tables["silver.plays"]) == expected
    assert per_day(tables["gold.fact_recently_played"]) == expected
    raw = run_totals(result, "raw/streaming_history")
    stored = [r for r in rows if in_range(r["ts"][:10], FIRST, LAST)]
    assert raw["dagster/row_count"] == len(stored) == sum(expected.values()) + 1  # a row Spotify logged twice
    assert raw["rows_outside_run"] == len(rows) - len(stored)
    assert (raw["video_files_skipped"], raw["video_rows_skipped"]) == (2, 17)
    assert (raw["export_first_day"], raw["export_last_day"]) == ("2022-05-22", "2022-12-30")

    silver = tables["silver.plays"]
    assert set(silver["source"]) == {"extended_history"}
    assert set(silver["track_key"]) <= set(tables["gold.dim_track"]["track_key"])
    fact = tables["gold.fact_recently_played"]
    assert set(fact["primary_artist_key"]) <= set(tables["gold.dim_artist"]["artist_key"])
    assert set(fact["album_key"]) <= set(tables["gold.dim_album"]["album_key"])
    assert fact["ms_played"].notna().all() and fact["platform"].notna().all()
    artist = stored[0]["master_metadata_album_artist_name"]
    assert derived_key("artist", artist) in set(tables["gold.dim_artist"]["artist_key"])
    for name, frame in tables.items():  # personal fields stay in raw
        assert "ip_addr" not in frame.columns and "192.0.2.1" not in frame.to_string(), name
    day_file = (
        tmp_path
        / "lake"
        / "raw"
        / "streaming_history"
        / "extraction_date=2022-12-14"
        / "streaming_history.json"
    )
    assert "192.0.2.1" in day_file.read_text()  # raw keeps the export's own rows


def test_account_data_imports_and_counts_podcasts(tmp_path, clean_warehouse, fixtures_dir):
    folder = fixtures_dir / "account_data"
    music = json.loads((folder / "StreamingHistory_music_0.json").read_text())
    podcasts = json.loads((folder / "StreamingHistory_podcast_0.json").read_text())
    settings = make_settings(tmp_path, clean_warehouse, history_dir=str(folder))
    result = run(settings, ACCOUNT_FIRST, ACCOUNT_LAST)
    plays = {
        (r["endTime"], r["artistName"].casefold(), r["trackName"].casefold())
        for r in music
        if in_range(r["endTime"][:10], ACCOUNT_FIRST, ACCOUNT_LAST)
    }
    tables = warehouse_tables(clean_warehouse)
    assert per_day(tables["silver.plays"]) == dict(collections.Counter(end[:10] for end, *_ in plays))
    silver = run_totals(result, "silver/plays")
    assert silver["history_podcast_rows"] == sum(
        in_range(r["endTime"][:10], ACCOUNT_FIRST, ACCOUNT_LAST) for r in podcasts
    )
    assert tables["silver.plays"]["track_id"].isna().all()
    assert tables["gold.dim_track"]["track_key"].str.startswith("~").all()
    assert len(tables["gold.key_map"]) == 0  # names alone never claim an id


def test_a_later_export_adds_only_new_plays_and_an_unset_history_dir_loses_nothing(
    tmp_path, clean_warehouse, fixtures_dir
):
    rows = json.loads((fixtures_dir / "extended_history" / EXTENDED_FILE).read_text())
    cut = "2022-12-14T07:45:00Z"  # the export as it was requested a little earlier
    write_export(tmp_path / "export_1", EXTENDED_FILE, [r for r in rows if r["ts"] < cut])
    settings = make_settings(tmp_path, clean_warehouse, history_dir=str(tmp_path / "export_1"))
    run(settings, SHORT_FIRST, SHORT_LAST)
    first_plays = warehouse_tables(clean_warehouse)["silver.plays"]
    assert len(first_plays) == sum(r["ts"][:10] == "2022-12-14" and r["ts"] < cut for r in rows) == 3

    later = make_settings(tmp_path, clean_warehouse, history_dir=str(fixtures_dir / "extended_history"))
    result = run(later, SHORT_FIRST, SHORT_LAST)
    new_rows = [r for r in rows if r["ts"][:10] == "2022-12-14" and r["ts"] >= cut]
    assert run_totals(result, "raw/streaming_history")["new_rows"] == len(new_rows) == 4
    plays = warehouse_tables(clean_warehouse)["silver.plays"]
    old = set(zip(first_plays["played_at"], first_plays["track_key"], strict=True))
    new = set(zip(plays["played_at"], plays["track_key"], strict=True))
    assert old < new and len(new - old) == 3  # two of the new rows are one play logged twice
    assert all(ts >= datetime(2022, 12, 14, 7, 45, tzinfo=UTC) for ts, _ in new - old)

    lake, tables = lake_digest(Path(settings.lake_dir)), warehouse_tables(clean_warehouse)
    run(later, SHORT_FIRST, SHORT_LAST)  # the same export again
    assert lake_digest(Path(settings.lake_dir)) == lake
    run(make_settings(tmp_path, clean_warehouse), SHORT_FIRST, SHORT_LAST)  # HISTORY_DIR unset: nothing lost
    assert lake_digest(Path(settings.lake_dir)) == lake
    for name, frame in warehouse_tables(clean_warehouse).items():
        assert frame.equals(tables[name]), name


def test_a_malformed_file_fails_the_import_naming_it_and_changes_no_partition(
    tmp_path, clean_warehouse, fixtures_dir
):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / EXTENDED_FILE).symlink_to(fixtures_dir / "extended_history" / EXTENDED_FILE)
    settings = make_settings(tmp_path, clean_warehouse, history_dir=str(folder))
    run(settings, SHORT_FIRST, SHORT_LAST)
    lake, tables = lake_digest(Path(settings.lake_dir)), warehouse_tables(clean_warehouse)

    text = (fixtures_dir / "extended_history" / EXTENDED_FILE).read_text()
    broken = folder / "Streaming_History_Audio_2023.json"
    for content, problem in (
        (text[: len(text) // 3], "not valid JSON"),  # truncated
        (json.dumps({"plays": json.loads(text)}), "expected a JSON array"),  # wrong shape
    ):
        broken.write_text(content)
        result = run(settings, SHORT_FIRST, SHORT_LAST, raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
        assert failure.step_key == "raw__streaming_history"
        message = str(failure.step_failure_data.error)
        assert str(broken) in message and problem in message
        assert lake_digest(Path(settings.lake_dir)) == lake
        for name, frame in warehouse_tables(clean_warehouse).items():
            assert frame.equals(tables[name]), name


# ---- an export and the recently-played API covering the same hours --------------------------------------


def test_an_export_overlapping_recently_played_gives_one_fact_row_per_play(
    tmp_path, clean_warehouse, fake_spotify, live_env, fixtures_dir
):
    items = json.loads((fixtures_dir / "recently_played" / "recently_played_2017_20items.json").read_text())[
        "items"
    ]
    fake_spotify.items = copy.deepcopy(items)
    offsets = [(-4, -1, 2, 5)[n % 4] for n in range(len(items))]  # ts a few seconds off, either way
    write_export(tmp_path / "export", "Streaming_History_Audio_2017.json", [
        export_copy(item, offset) for item, offset in zip(items, offsets, strict=True)
    ])  # fmt: skip
    settings = make_settings(
        tmp_path, clean_warehouse, spotify_source="live", history_dir=str(tmp_path / "export")
    )
    first, last = date(2017, 5, 26), date(2017, 5, 27)
    result = run(settings, first, last, api_plays=True)

    tables = warehouse_tables(clean_warehouse)
    fact, silver = tables["gold.fact_recently_played"], tables["silver.plays"]
    assert len(fact) == len(silver) == len({(i["played_at"], i["track"]["id"]) for i in items}) == 20
    assert set(silver["source"]) == {"recently_played"}  # the API row wins: its ids and played_at
    assert set(fact["track_key"]) == {i["track"]["id"] for i in items}
    assert (fact["ms_played"] >= 200_000 - 4).all() and set(fact["platform"]) == {"linux"}
    assert fact["is_stream"].all() and fact["shuffle"].all()
    for dimension, key in (
        ("dim_artist", "artist_key"),
        ("dim_album", "album_key"),
        ("dim_track", "track_key"),
    ):
        assert not tables[f"gold.{dimension}"][key].str.startswith("~").any(), dimension
    key_map = tables["gold.key_map"].set_index("derived_key")["spotify_id"]
    first_item = items[0]["track"]
    assert key_map[derived_key("artist", first_item["artists"][0]["name"])] == first_item["artists"][0]["id"]
    assert run_totals(result, "silver/plays")["plays_merged_across_sources"] == 20

    lake = lake_digest(Path(settings.lake_dir))
    run(settings, first, last, api_plays=True)  # the same export and API window again
    assert lake_digest(Path(settings.lake_dir)) == lake
    assert len(warehouse_tables(clean_warehouse)["gold.fact_recently_played"]) == 20


def test_bi_counts_an_account_export_and_the_api_plays_of_a_track_together(
    tmp_path, clean_warehouse, fake_spotify, live_env, fixtures_dir
):
    items = json.loads((fixtures_dir / "recently_played" / "recently_played_2017_20items.json").read_text())[
        "items"
    ]
    fake_spotify.items = copy.deepcopy(items)
    track = items[0]["track"]
    api_plays = sum(1 for item in items if item["track"]["id"] == track["id"])
    # The day before, the account-data export (names only) has the same track twice.
    export = [
        {"endTime": f"2017-05-25 {hour}:00", "artistName": track["artists"][0]["name"],
         "trackName": track["name"], "msPlayed": 180_000}
        for hour in (10, 11)
    ]  # fmt: skip
    write_export(tmp_path / "export", "StreamingHistory_music_0.json", export)
    settings = make_settings(
        tmp_path, clean_warehouse, spotify_source="live", history_dir=str(tmp_path / "export")
    )
    run(settings, date(2017, 5, 25), date(2017, 5, 27), api_plays=True)

    derived = derived_key("track", track["artists"][0]["name"], track["name"])
    fact = warehouse_tables(clean_warehouse)["gold.fact_recently_played"]
    assert (fact["track_key"] == derived).sum() == 2  # the fact keeps each play's own key
    with clean_warehouse.connect() as conn:
        ensure_views(conn)
        rows = conn.execute(
            "SELECT track_key, track, artist, plays FROM bi.top_tracks_by_month WHERE track_key IN (%s, %s)",
            (derived, track["id"]),
        ).fetchall()
        resolved = conn.execute(
            "SELECT count(*) FROM bi.plays WHERE track_key = %s AND artist_key = %s",
            (track["id"], track["artists"][0]["id"]),
        ).fetchone()
    assert rows == [(track["id"], track["name"], track["artists"][0]["name"], api_plays + 2)]
    assert resolved == (api_plays + 2,)
