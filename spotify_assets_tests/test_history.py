"""Importing Spotify's data exports, without Dagster: the real export files read in place, table-driven."""

import collections
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from spotify_assets.contracts.export_formats import AUDIOBOOK, EXTENDED, MUSIC, PODCAST, STORED_KINDS, VIDEO
from spotify_assets.contracts.table_frames import conform
from spotify_assets.contracts.tables import PLAYS
from spotify_assets.sources.history import (
    ExportFile,
    HistoryFileError,
    RowTexts,
    classify,
    read_export_file,
    read_export_folder,
    row_json,
    stop_millis,
)
from spotify_assets.transforms.history import day_range, import_rows, local_day_keys, plan_partitions
from spotify_assets.transforms.history_plays import history_plays, read_partitions
from spotify_assets.transforms.keys import derived_key
from spotify_assets.transforms.plays import (
    MATCH_TOLERANCE_MS,
    build_key_map,
    combine_days,
    one_row_per_play,
)
from spotify_assets.transforms.silver import flatten_recently_played

EXPORT_FILES = [
    ("extended_history/Streaming_History_Audio_2022.json", EXTENDED),
    ("extended_history/Streaming_History_Video_2023.json", VIDEO),
    ("extended_history/Streaming_History_Video_2026.json", VIDEO),
    ("account_data/StreamingHistory_music_0.json", MUSIC),
    ("account_data/StreamingHistory_podcast_0.json", PODCAST),
]


def load(fixtures_dir: Path, name: str) -> list[dict]:
    return json.loads((fixtures_dir / name).read_text(encoding="utf-8"))


def every_day(first: str, last: str) -> list[str]:
    return [day.strftime("%Y-%m-%d") for day in pd.date_range(first, last)]


def import_plays(files, timezone: str = "UTC", listener_id: str = "me"):
    """The whole path without Dagster: files -> raw partitions (as stored JSON) -> silver history plays."""
    stored = [f for f in files if f.kind != VIDEO]
    first, last = day_range(stored, timezone)
    days = every_day(first, last)
    plan = plan_partitions(import_rows(files, timezone, days), days, {})
    payloads = {day: json.loads(partition.to_json_bytes()) for day, partition in plan.payloads.items()}
    return payloads, history_plays(read_partitions(payloads.items()), listener_id)


def played_day(value: str) -> str:
    return value[:10]


def independent_plays_per_day(fixtures_dir: Path, name: str, kind: str) -> dict[str, int]:
    """Plays per UTC day counted straight from the file: one per (stop time, track), music only."""
    rows = load(fixtures_dir, name)
    if kind == EXTENDED:
        plays = {
            (r["ts"], r["spotify_track_uri"] or r["master_metadata_track_name"])
            for r in rows
            if not r.get("spotify_episode_uri")
            and not r.get("audiobook_uri")
            and (r["spotify_track_uri"] or r["master_metadata_track_name"])
        }
    else:
        plays = {(r["endTime"], r["artistName"].casefold(), r["trackName"].casefold()) for r in rows}
    return dict(collections.Counter(played_day(stop) for stop, *_ in plays))


# ---- files: recognised, read, checked ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Streaming_History_Audio_2014-2016_0.json", EXTENDED),
        ("Streaming_History_Audio_2024_12.json", EXTENDED),
        ("endsong_0.json", EXTENDED),
        ("endsong.json", EXTENDED),
        ("Streaming_History_Video_2019-2023.json", VIDEO),
        ("StreamingHistory_music_0.json", MUSIC),
        ("StreamingHistory0.json", MUSIC),
        ("StreamingHistory_podcast_1.json", PODCAST),
        ("StreamingHistory_audiobook_0.json", AUDIOBOOK),
        ("Userdata.json", None),
        ("Playlist1.json", None),
        ("ReadMeFirst_ExtendedStreamingHistory.pdf", None),
        ("recently_played_2017_20items.json", None),
    ],
)
def test_export_files_are_recognised_by_name(name, kind):
    assert classify(name) == kind


@pytest.mark.parametrize(("name", "kind"), EXPORT_FILES)
def test_every_fixture_file_reads_whole(fixtures_dir, name, kind):
    rows = load(fixtures_dir, name)
    export_file = read_export_file(fixtures_dir / name)
    assert export_file.kind == kind
    assert export_file.rows == len(rows)
    if kind == VIDEO:
        assert len(export_file.texts) == 0  # counted, never stored
    else:
        texts = export_file.texts
        assert [json.loads(text) for text in texts.take(range(len(texts)))] == rows  # the export's own rows


def test_a_folder_reads_every_kind_and_skips_video_with_a_count(fixtures_dir):
    export = read_export_folder(fixtures_dir)
    assert export.rows_by_kind() == {
        EXTENDED: len(load(fixtures_dir, EXPORT_FILES[0][0])),
        MUSIC: len(load(fixtures_dir, EXPORT_FILES[3][0])),
        PODCAST: len(load(fixtures_dir, EXPORT_FILES[4][0])),
        AUDIOBOOK: 0,
        VIDEO: len(load(fixtures_dir, EXPORT_FILES[1][0])) + len(load(fixtures_dir, EXPORT_FILES[2][0])),
    }
    assert export.files_by_kind()[VIDEO] == 2
    assert [p.name for p in export.ignored] == ["recently_played_2017_20items.json"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda text: text[: len(text) // 2], "not valid JSON"),
        (
            lambda text: json.dumps({"items": json.loads(text)}),
            "expected a JSON array of rows, found a JSON dict",
        ),
        (lambda text: json.dumps([1, 2]), "row 0: expected an object, found int"),
        (lambda text: json.dumps([{"ms_played": 1}]), "row 0: 'ts' is missing or null"),
        (
            lambda text: json.dumps([{"ts": "2022-01-01T00:00:00Z", "ms_played": "12"}]),
            "row 0: 'ms_played' must be an integer",
        ),
        (
            lambda text: json.dumps([{"ts": "yesterday", "ms_played": 12}]),
            "row 0: 'ts' is not a valid UTC time",
        ),
        (lambda text: b"[\xff\xfe]", "not UTF-8 text"),
    ],
)
def test_a_malformed_file_is_an_error_naming_the_file(fixtures_dir, tmp_path, content, message):
    text = (fixtures_dir / EXPORT_FILES[0][0]).read_text(encoding="utf-8")
    path = tmp_path / "Streaming_History_Audio_2023.json"
    data = content(text)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    with pytest.raises(HistoryFileError, match=message) as raised:
        read_export_folder(tmp_path)
    assert str(path) in str(raised.value)


def test_account_rows_need_their_names(tmp_path):
    path = tmp_path / "StreamingHistory_music_0.json"
    path.write_text(json.dumps([{"endTime": "2024-01-01 10:00", "artistName": "A", "msPlayed": 5}]))
    with pytest.raises(HistoryFileError, match=f"{path}: row 0: 'trackName' is missing or null"):
        read_export_file(path)


# ---- raw partitions --------------------------------------------------------------------------------------


ODD_ROW = {
    "ts": "2022-01-01T00:00:00Z",
    "text": 'ü "quoted" \\ back\nslash \x01 \u2028 🎵 日本語',
    "numbers": [0, -1, 2**70, 2.5, 1e16, 1e-7],
    "flags": [True, False, None],
    "nested": {"b": 1, "a": [{}], "": "empty key"},
}


@pytest.mark.parametrize("row", [ODD_ROW, {}, [], "text", 7], ids=["odd", "empty", "list", "str", "int"])
def test_a_row_is_stored_as_compact_json_in_its_own_key_order(row):
    assert row_json(row) == json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert json.loads(row_json(row)) == row


def test_a_row_json_does_not_allow_is_refused_and_the_next_is_stored():
    with pytest.raises(ValueError, match="not JSON compliant"):
        row_json({"ms_played": float("nan")})
    with pytest.raises(TypeError, match="not JSON serializable"):
        row_json({"ms_played": object()})
    assert row_json({"ms_played": 1}) == b'{"ms_played":1}'


@pytest.mark.parametrize(
    ("timezone", "stop", "day"),
    [
        ("UTC", "2022-11-12T23:59:59Z", "2022-11-12"),
        ("Europe/Berlin", "2022-11-12T23:30:00Z", "2022-11-13"),
        ("America/New_York", "2022-11-12T03:00:00Z", "2022-11-11"),
    ],
)
def test_rows_belong_to_the_local_day_their_play_stopped(timezone, stop, day):
    millis = int(pd.Timestamp(stop).value // 1_000_000)
    assert local_day_keys(pd.array([millis]).to_numpy("int64"), timezone).tolist() == [day]


def test_each_export_row_is_stored_once_on_its_day_untouched(fixtures_dir):
    name = EXPORT_FILES[0][0]
    payloads, _ = import_plays([read_export_file(fixtures_dir / name)])
    stored = [row for payload in payloads.values() for row in payload[EXTENDED]]
    assert sorted(map(json.dumps, stored)) == sorted(map(json.dumps, load(fixtures_dir, name)))
    for day, payload in payloads.items():
        assert set(payload) == set(STORED_KINDS)
        assert all(row["ts"].startswith(day) for row in payload[EXTENDED])
        assert [row["ts"] for row in payload[EXTENDED]] == sorted(row["ts"] for row in payload[EXTENDED])


def test_reimporting_changes_nothing_and_a_later_export_adds_only_new_rows(fixtures_dir):
    rows = load(fixtures_dir, EXPORT_FILES[0][0])
    full = read_export_file(fixtures_dir / EXPORT_FILES[0][0])
    days = every_day("2022-05-22", "2022-12-30")
    first = plan_partitions(import_rows([full], "UTC", days), days, {})
    stored = {day: json.loads(p.to_json_bytes()) for day, p in first.payloads.items()}
    again = plan_partitions(import_rows([full, full], "UTC", days), days, stored)  # the same file twice too
    assert {day: p.to_json_bytes() for day, p in again.payloads.items()} == {
        day: p.to_json_bytes() for day, p in first.payloads.items()
    }
    assert sum(again.new_rows.values()) == 0

    # An earlier, smaller export first; then the later one, which repeats it and goes on.
    cut = "2022-12-10"
    earlier = [r for r in rows if r["ts"] < cut]
    assert 0 < len(earlier) < len(rows)
    early_plan = _plan_rows(earlier, days, {})
    early_stored = {day: json.loads(p.to_json_bytes()) for day, p in early_plan.payloads.items()}
    later_plan = plan_partitions(import_rows([full], "UTC", days), days, early_stored)
    assert sum(later_plan.new_rows.values()) == len(rows) - len(earlier)
    assert {d: p.to_json_bytes() for d, p in later_plan.payloads.items()} == {
        d: p.to_json_bytes() for d, p in first.payloads.items()
    }
    # Importing only the earlier export again loses nothing that was stored.
    back = _plan_rows(earlier, days, stored)
    assert {d: p.to_json_bytes() for d, p in back.payloads.items()} == {
        d: p.to_json_bytes() for d, p in first.payloads.items()
    }


def _plan_rows(rows, days, stored, tmp_name="Streaming_History_Audio_x.json"):
    export_file = ExportFile(
        Path(tmp_name),
        EXTENDED,
        RowTexts([row_json(r) for r in rows]),
        stop_millis(EXTENDED, [r["ts"] for r in rows]),
    )
    return plan_partitions(import_rows([export_file], "UTC", days), days, stored)


# ---- silver plays from the exports -----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind"), [f for f in EXPORT_FILES if f[1] in (EXTENDED, MUSIC)])
def test_plays_per_day_equal_an_independent_count(fixtures_dir, name, kind):
    _, history = import_plays([read_export_file(fixtures_dir / name)])
    per_day = history.plays.groupby(history.plays["extraction_date"].map(str)).size().to_dict()
    assert per_day == independent_plays_per_day(fixtures_dir, name, kind)
    assert history.counts["repeated_rows"] == len(load(fixtures_dir, name)) - len(history.plays)


def test_podcasts_are_counted_not_played(fixtures_dir):
    music, podcasts = EXPORT_FILES[3][0], EXPORT_FILES[4][0]
    _, history = import_plays([read_export_file(fixtures_dir / name) for name in (music, podcasts)])
    assert history.counts["podcast_rows"] == len(load(fixtures_dir, podcasts))
    assert len(history.plays) == sum(independent_plays_per_day(fixtures_dir, music, MUSIC).values())
    assert set(history.plays["source"]) == {"account_data"}


def test_every_music_row_is_a_play_with_stream_flag_and_export_fields(fixtures_dir):
    rows = load(fixtures_dir, EXPORT_FILES[0][0])
    _, history = import_plays([read_export_file(fixtures_dir / EXPORT_FILES[0][0])])
    plays = history.plays
    assert (plays["is_stream"] == (plays["ms_played"] >= 30_000)).all()
    assert (~plays["is_stream"]).sum() > 0  # short plays are plays too
    first = plays[plays["played_at"] == pd.Timestamp(rows[0]["ts"])].iloc[0]
    assert (first.ms_played, first.reason_start, first.reason_end, first.shuffle, first.skipped) == (
        rows[0]["ms_played"],
        rows[0]["reason_start"],
        rows[0]["reason_end"],
        rows[0]["shuffle"],
        rows[0]["skipped"],
    )
    assert (first.platform, first.conn_country, first.source) == ("android", "IN", "extended_history")
    assert "ip_addr" not in plays.columns and "192.0.2.1" not in plays.to_string()


def test_keys_follow_the_design_and_are_identical_across_imports(fixtures_dir):
    files = [read_export_file(fixtures_dir / name) for name, kind in EXPORT_FILES if kind != PODCAST]
    _, one = import_plays(files)
    _, two = import_plays(list(reversed(files)))
    pd.testing.assert_frame_equal(one.plays, two.plays)
    extended = one.plays[one.plays["source"] == "extended_history"].iloc[0]
    artist = extended.artist_names[0]
    assert extended.track_key == extended.track_uri.removeprefix("spotify:track:")
    assert extended.artist_keys == [derived_key("artist", artist)]
    assert extended.album_key == derived_key("album", artist, extended.album_name)
    account = one.plays[one.plays["source"] == "account_data"].iloc[0]
    assert account.track_key == derived_key("track", account.artist_names[0], account.track_name)
    assert account.track_id is pd.NA or account.track_id is None
    same_name = one.plays[one.plays["source"] == "account_data"].groupby("track_key")["track_name"].nunique()
    assert (same_name == 1).all()


def test_different_tracks_ending_in_the_same_second_are_different_plays(tmp_path):
    rows = [
        _extended_row("2024-03-01T10:00:05Z", "spotify:track:a", "A", ms=1200),
        _extended_row("2024-03-01T10:00:05Z", "spotify:track:b", "B", ms=900),  # quick skip, same second
        _extended_row("2024-03-01T10:00:05Z", "spotify:track:b", "B", ms=950),  # logged twice: one play
    ]
    path = tmp_path / "Streaming_History_Audio_2024.json"
    path.write_text(json.dumps(rows))
    _, history = import_plays([read_export_file(path)])
    assert sorted(history.plays["track_key"]) == ["a", "b"]
    assert history.plays.set_index("track_key").loc["b", "ms_played"] == 950
    assert history.counts["repeated_rows"] == 1


def _extended_row(ts, uri, name, ms=200_000, artist="Artist", album="Album", **extra):
    return {
        "ts": ts,
        "platform": "ios",
        "ms_played": ms,
        "conn_country": "DE",
        "ip_addr": "192.0.2.1",
        "master_metadata_track_name": name,
        "master_metadata_album_artist_name": artist,
        "master_metadata_album_album_name": album,
        "spotify_track_uri": uri,
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "reason_start": "trackdone",
        "reason_end": "trackdone",
        "shuffle": False,
        "skipped": False,
        **extra,
    }


@pytest.mark.parametrize(("ms", "is_stream"), [(0, False), (29_999, False), (30_000, True), (240_000, True)])
def test_is_stream_is_spotifys_30_second_threshold(tmp_path, ms, is_stream):
    path = tmp_path / "Streaming_History_Audio_2024.json"
    path.write_text(json.dumps([_extended_row("2024-03-01T10:00:05Z", "spotify:track:a", "A", ms=ms)]))
    _, history = import_plays([read_export_file(path)])
    assert history.plays["is_stream"].tolist() == [is_stream]


def test_episodes_and_audiobooks_in_the_audio_file_are_not_tracks(tmp_path):
    rows = [
        _extended_row("2024-03-01T10:00:05Z", "spotify:track:a", "A"),
        _extended_row(
            "2024-03-01T11:00:00Z",
            None,
            None,
            artist=None,
            album=None,
            spotify_episode_uri="spotify:episode:e",
        ),
        _extended_row(
            "2024-03-01T12:00:00Z", None, None, artist=None, album=None, audiobook_uri="spotify:show:b"
        ),
        _extended_row("2024-03-01T13:00:00Z", None, None, artist=None, album=None),
    ]
    path = tmp_path / "Streaming_History_Audio_2024.json"
    path.write_text(json.dumps(rows))
    _, history = import_plays([read_export_file(path)])
    assert history.plays["track_key"].tolist() == ["a"]
    assert {k: history.counts[k] for k in ("podcast_rows", "audiobook_rows", "unidentified_rows")} == {
        "podcast_rows": 1,
        "audiobook_rows": 1,
        "unidentified_rows": 1,
    }


# ---- one row per real play, keys converging ----------------------------------------------------------------


@pytest.fixture()
def recorded_items(fixtures_dir):
    path = fixtures_dir / "recently_played" / "recently_played_2017_20items.json"
    return json.loads(path.read_text())["items"]


def _when(item) -> datetime:
    return datetime.fromisoformat(item["played_at"].replace("Z", "+00:00"))


def extended_copy(item, offset_s: float, ms_played: int = 123_456) -> dict:
    """The play as the Extended Streaming History would log it: `ts` at second precision, names, no ids."""
    track = item["track"]
    ts = (_when(item) + timedelta(seconds=offset_s)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _extended_row(
        ts,
        track["uri"],
        track["name"],
        ms=ms_played,
        artist=track["artists"][0]["name"],
        album=track["album"]["name"],
    )


def account_copy(item, offset_s: float = 0) -> dict:
    """The play as Account data would log it: minute precision, names only."""
    track = item["track"]
    moment = (_when(item) + timedelta(seconds=offset_s)).astimezone(UTC)
    end = moment.strftime("%Y-%m-%d %H:%M")
    return {
        "endTime": end,
        "artistName": track["artists"][0]["name"],
        "trackName": track["name"],
        "msPlayed": 99_000,
    }


def _silver(recorded_items, extended_rows=(), account_rows=()):
    days = sorted({item["played_at"][:10] for item in recorded_items})
    recent = {
        day: flatten_recently_played(
            [i for i in recorded_items if i["played_at"].startswith(day)], "me", "UTC"
        )
        for day in days
    }
    payloads = {
        day: {
            EXTENDED: [r for r in extended_rows if r["ts"].startswith(day)],
            MUSIC: [r for r in account_rows if r["endTime"].startswith(day)],
        }
        for day in days
    }
    history = history_plays(read_partitions(payloads.items()), "me")
    frames, merged = combine_days(recent, history.plays)
    return pd.concat(frames.values(), ignore_index=True), merged


@pytest.mark.parametrize("offset_s", [-25, -3, 0, 2.5, 7, 29])
def test_an_export_copy_of_api_plays_adds_no_play(recorded_items, offset_s):
    api_only, _ = _silver(recorded_items)
    plays, merged = _silver(recorded_items, [extended_copy(i, offset_s) for i in recorded_items])
    assert len(plays) == len(recorded_items) == len(api_only) and merged == len(recorded_items)
    assert (plays["source"] == "recently_played").all()  # the API row wins: its ids and played_at
    pd.testing.assert_series_equal(plays["played_at"], api_only["played_at"])
    pd.testing.assert_series_equal(plays["track_key"], api_only["track_key"])
    assert (plays["ms_played"] == 123_456).all() and (plays["platform"] == "ios").all()


def test_plays_further_apart_than_the_tolerance_stay_two(recorded_items):
    item = recorded_items[0]
    far = MATCH_TOLERANCE_MS / 1000 + 1.5  # beyond the tolerance, whatever the second's fraction
    plays, merged = _silver([item], [extended_copy(item, far)])
    assert len(plays) == 2 and merged == 0


def test_api_extended_and_account_copies_of_the_same_plays_are_one_row_each(recorded_items):
    plays, merged = _silver(
        recorded_items,
        [extended_copy(i, 3) for i in recorded_items],
        [account_copy(i, -2) for i in recorded_items],
    )
    assert len(plays) == len(recorded_items)
    assert merged == 2 * len(recorded_items)
    assert not any(key.startswith("~") for keys in plays["artist_keys"] for key in keys)
    assert not plays["album_key"].str.startswith("~").any()


def test_history_rows_of_a_track_the_api_played_that_day_take_the_apis_description(recorded_items):
    item = recorded_items[0]
    earlier = extended_copy(item, -3600)  # an hour before: another play of the same track, not a copy
    account = account_copy(item, -7200)
    plays, merged = _silver([item], [earlier], [account])
    assert merged == 0 and len(plays) == 3
    api = plays[plays["source"] == "recently_played"].iloc[0]
    for _, row in plays.iterrows():
        assert (row.track_key, row.album_key, row.artist_keys) == (
            api.track_key,
            api.album_key,
            api.artist_keys,
        )
    assert set(plays["source"]) == {"recently_played", "extended_history", "account_data"}


def test_account_rows_converge_to_extended_ids_on_the_same_day(tmp_path):
    plays = conform(
        pd.concat(
            [
                _history_frame(
                    [_extended_row("2024-03-01T10:00:05Z", "spotify:track:a", "Song", artist="Band")]
                ),
                _history_frame(
                    account=[
                        {
                            "endTime": "2024-03-01 15:00",
                            "artistName": "band ",
                            "trackName": "SONG",
                            "msPlayed": 1,
                        }
                    ]
                ),
            ]
        ),
        PLAYS,
    )
    out, merged = one_row_per_play(plays)
    assert merged == 0
    assert out["track_key"].tolist() == ["a", "a"]
    assert out["album_key"].nunique() == 1


def _history_frame(extended=(), account=(), day="2024-03-01"):
    payload = {EXTENDED: list(extended), MUSIC: list(account)}
    return history_plays(read_partitions([(day, payload)]), "me").plays


def test_key_map_converges_name_keys_to_ids_seen_on_another_day(recorded_items):
    item = recorded_items[0]
    track = item["track"]
    account = {
        "endTime": "2017-05-20 10:00",
        "artistName": track["artists"][0]["name"],
        "trackName": track["name"],
        "msPlayed": 1,
    }
    history = _history_frame(account=[account], day="2017-05-20")
    api = flatten_recently_played([item], "me", "UTC")
    key_map = build_key_map(pd.concat([history, api], ignore_index=True)).set_index("derived_key")
    assert key_map.loc[history["track_key"].iloc[0], "spotify_id"] == track["id"]
    assert key_map.loc[history["artist_keys"].iloc[0][0], "spotify_id"] == track["artists"][0]["id"]
    assert set(key_map["entity"]) == {"artist", "album", "track"}
    assert build_key_map(history).empty  # names alone explain nothing


def _reference_pairs(plays: pd.DataFrame) -> set[tuple[str, str, str]]:
    """(entity, derived key, Spotify id) of every play, one play at a time, as `id_pairs` documents them."""
    pairs = set()
    for row in plays.itertuples():
        first_artist = row.artist_names[0] if row.artist_names else None
        if isinstance(row.track_id, str):
            pairs.add(("track", derived_key("track", first_artist, row.track_name), row.track_id))
        if isinstance(row.album_id, str):
            first = (row.album_artist_names[0] if row.album_artist_names else None) or first_artist
            pairs.add(("album", derived_key("album", first, row.album_name), row.album_id))
        credits = [
            *zip(row.artist_ids, row.artist_names, strict=False),
            *zip(row.album_artist_keys, row.album_artist_names, strict=False),
        ]
        for spotify_id, name in credits:
            if spotify_id and not spotify_id.startswith("~") and name is not None:
                pairs.add(("artist", derived_key("artist", name), spotify_id))
    return pairs


def test_key_map_does_not_depend_on_rows_sharing_their_lists(recorded_items):
    """Silver read from the lake shares one list object among the rows holding the same list, rows built one
    by one do not; the key map, worked out once per distinct list, is the same either way and the same as
    the pairs taken play by play."""
    api = flatten_recently_played(recorded_items, "me", "UTC")
    columns = ("artist_ids", "artist_names", "album_artist_keys", "album_artist_names")
    copied = api.assign(**{c: [list(v) for v in api[c]] for c in columns})
    shared_lists: dict[tuple, list] = {}
    shared = api.assign(**{c: [shared_lists.setdefault(tuple(v), list(v)) for v in api[c]] for c in columns})
    key_maps = [build_key_map(frame) for frame in (api, copied, shared)]
    expected = _reference_pairs(api)
    assert len(expected) > len(api) // 2
    for key_map in key_maps:
        found = zip(key_map["entity"], key_map["derived_key"], key_map["spotify_id"], strict=True)
        assert set(found) == expected
        pd.testing.assert_frame_equal(key_map, key_maps[0])


def test_history_range_prints_the_days_and_the_settings_to_use(fixtures_dir, capsys, monkeypatch, tmp_path):
    from spotify_assets.operations.cli import main
    from spotify_assets.operations.history_range import history_range_lines

    monkeypatch.chdir(tmp_path)  # main() reads ./.env: not a developer's

    lines = history_range_lines(str(fixtures_dir), "UTC", date(2025, 1, 1))
    text = "\n".join(lines)
    assert "extended_history" in text and "10,000 rows  2023-10-02 .. 2024-05-21" in text
    assert "video (skipped)            2 file(s)         17 rows" in text
    assert "  PARTITIONS_START_DATE=2022-05-22" in lines
    assert lines[-1].endswith("--partition-range 2022-05-22...2024-10-03")
    assert main(["history-range", str(fixtures_dir / "extended_history")]) == 0
    assert "PARTITIONS_START_DATE needs no change" in capsys.readouterr().out  # the tests' start: 2015-01-01
    assert main(["history-range", str(fixtures_dir / "missing")]) == 1
    assert "is not a folder" in capsys.readouterr().err
