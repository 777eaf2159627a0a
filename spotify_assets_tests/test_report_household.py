"""Several listeners (issue 14): a report per listener, the household page, their charts in the lake, and the
views `bi.listeners` and `bi.household_artists`.

The fact rows are the sample pipeline's, given out to listeners afterwards (the pipeline itself captures one
listener here); every expected number is computed from the fact by SQL or by counting, not by the report."""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from PIL import Image

from spotify_assets.assets.report import REPORT_LISTENING, listener_segment
from spotify_assets.definitions import build_definitions
from spotify_assets.report.charts import CHARTS
from spotify_assets.transforms.household import household_reports
from spotify_assets.transforms.report import listening_reports
from spotify_assets_tests.helpers import make_settings, materialize
from spotify_assets_tests.report_numbers import LISTENED, listening_frame, sql_numbers

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

DAY = date(2025, 3, 14)
FIRST = DAY - timedelta(days=1)


@pytest.fixture()
def settings(tmp_path: Path, clean_warehouse):
    return make_settings(tmp_path, clean_warehouse)


def give_out_plays(conn, listeners: list[str]) -> None:
    """Give the fact's plays, in played_at order, to `listeners`: listener i gets i + 1 of every
    len(listeners) * (len(listeners) + 1) / 2 plays, so they play unequal amounts of the same artists."""
    pattern = [listener for i, listener in enumerate(listeners) for _ in range(i + 1)]
    play_ids = [
        p for (p,) in conn.execute("SELECT play_id FROM gold.fact_recently_played ORDER BY played_at")
    ]
    with conn.cursor() as cursor:
        cursor.executemany(
            "UPDATE gold.fact_recently_played SET listener_id = %s WHERE play_id = %s",
            [(pattern[i % len(pattern)], play_id) for i, play_id in enumerate(play_ids)],
        )


def report_metadata(settings) -> dict[str, object]:
    """Materialize only the report for DAY; its metadata values by key."""
    defs = build_definitions(settings)
    result = dg.materialize(
        defs.assets,
        selection=[REPORT_LISTENING],
        resources=defs.resources,
        partition_key=DAY.isoformat(),
        instance=dg.DagsterInstance.ephemeral(),
    )
    (event,) = result.get_asset_materialization_events()
    return {key: entry.value for key, entry in event.materialization.metadata.items()}


def window_plays(conn, day: date) -> list[dict]:
    """The window's plays, keys resolved through gold.key_map and named from the dimensions."""
    rows = conn.execute(
        f"""
        SELECT f.listener_id,
               coalesce(ma.spotify_id, f.primary_artist_key),
               coalesce(a.name, a_named.name, coalesce(ma.spotify_id, f.primary_artist_key)),
               coalesce(mt.spotify_id, f.track_key),
               coalesce(t.name, t_named.name, coalesce(mt.spotify_id, f.track_key)),
               {LISTENED}
        FROM gold.fact_recently_played f
        LEFT JOIN gold.key_map ma ON ma.derived_key = f.primary_artist_key
        LEFT JOIN gold.key_map mt ON mt.derived_key = f.track_key
        LEFT JOIN gold.dim_artist a ON a.artist_key = ma.spotify_id
        LEFT JOIN gold.dim_artist a_named ON a_named.artist_key = f.primary_artist_key
        LEFT JOIN gold.dim_track t ON t.track_key = mt.spotify_id
        LEFT JOIN gold.dim_track t_named ON t_named.track_key = f.track_key
        WHERE f.extraction_date BETWEEN %s AND %s
        """,
        (day - timedelta(days=29), day),
    ).fetchall()
    names = ("listener", "artist_key", "artist", "track_key", "track", "ms")
    return [dict(zip(names, row, strict=True)) for row in rows]


def markdown_rows(markdown: str, heading: str) -> list[list[str]]:
    """The cells of the table under `### heading` (header row left out)."""
    section = markdown.split(f"### {heading}", 1)[1].split("\n### ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def expected_shared(plays: list[dict]) -> list[tuple[str, int, int, dict[str, int]]]:
    """(artist, listeners, plays, plays per listener) of the artists at least two listeners played, ranked as
    the household page ranks them."""
    by_artist: dict[str, Counter] = defaultdict(Counter)
    ms: Counter = Counter()
    names = {}
    for play in plays:
        by_artist[play["artist_key"]][play["listener"]] += 1
        ms[play["artist_key"]] += play["ms"]
        names[play["artist_key"]] = play["artist"]
    shared = [key for key, counts in by_artist.items() if len(counts) >= 2]
    shared.sort(key=lambda k: (-len(by_artist[k]), -by_artist[k].total(), -ms[k], names[k], k))
    return [(names[k], len(by_artist[k]), by_artist[k].total(), dict(by_artist[k])) for k in shared[:10]]


def played_most(plays: list[dict], key: str, value: str) -> tuple[str, int, int, int]:
    """(who played `value` of `key` most, their plays, its plays, its listeners): most plays, then ms, then
    listener id."""
    counts: Counter = Counter()
    ms: Counter = Counter()
    for play in plays:
        if play[key] == value:
            counts[play["listener"]] += 1
            ms[play["listener"]] += play["ms"]
    who = min(counts, key=lambda listener: (-counts[listener], -ms[listener], listener))
    return who, counts[who], counts.total(), len(counts)


def assert_png(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        image.verify()


@pytest.mark.parametrize("count", [2, 5])
def test_each_listener_gets_a_report_and_the_household_page_compares_them(settings, clean_warehouse, count):
    materialize(settings, FIRST, DAY)
    lake = Path(settings.lake_dir)
    alone = report_metadata(settings)
    assert "household" not in alone and "listeners" not in alone  # one listener: today's report as it was
    assert not list(lake.glob("report/listening/listener=*"))

    listeners = [f"listener-{chr(ord('a') + i)}" for i in range(count)]
    with clean_warehouse.connect() as conn:
        give_out_plays(conn, listeners)
    metadata = report_metadata(settings)

    with clean_warehouse.connect() as conn:
        # The household's numbers stay in the existing keys; every listener's in `listeners`.
        everyone = sql_numbers(conn, DAY, DAY)
        assert (metadata["day_plays"], metadata["day_minutes"]) == (everyone["plays"], everyone["minutes"])
        expected = {}
        for listener in listeners:
            day = sql_numbers(conn, DAY, DAY, listener)
            window = sql_numbers(conn, DAY - timedelta(days=29), DAY, listener)
            expected[listener] = {
                "day_plays": day["plays"],
                "day_minutes": day["minutes"],
                "window_plays": window["plays"],
                "window_minutes": window["minutes"],
            }
            page = metadata[f"report[{listener}]"]
            assert page.startswith(f"## {listener}: listening on {DAY}")
            top = markdown_rows(page, "Top artists (30 days)")
            assert [(a, int(n)) for _, a, n, _ in top] == [(a, n) for a, n, _ in window["top_artists"][:5]]
        assert metadata["listeners"] == expected
        assert sum(numbers["window_plays"] for numbers in expected.values()) == metadata["window_plays"]
        plays = window_plays(conn, DAY)

    # Each listener's charts in the lake, at the uris the metadata gives; different listeners, different PNGs.
    charts = metadata["listener_charts"]
    assert sorted(charts) == listeners
    tops = set()
    for listener in listeners:
        for name in CHARTS:
            path = lake / f"report/listening/listener={listener}/extraction_date={DAY}/{name}.png"
            assert_png(path.read_bytes())
            assert charts[listener][name].endswith(f"listener={listener}/extraction_date={DAY}/{name}.png")
        tops.add(
            (
                lake / f"report/listening/listener={listener}/extraction_date={DAY}/top_artists.png"
            ).read_bytes()
        )
    assert len(tops) == count

    page = metadata["household"]
    listener_rows = markdown_rows(page, "Listeners")
    assert sorted((row[0], int(row[3])) for row in listener_rows) == sorted(
        (listener, numbers["window_plays"]) for listener, numbers in expected.items()
    )
    shared = markdown_rows(page, "Artists shared by two listeners or more (30 days)")
    wanted = expected_shared(plays)
    assert len(wanted) >= 3  # the split gives shared artists to compare
    assert [(row[1], int(row[2]), int(row[3])) for row in shared] == [(a, n, p) for a, n, p, _ in wanted]
    for row, (_, _, _, per_listener) in zip(shared, wanted, strict=True):
        shown = dict(part.rsplit(" ", 1) for part in row[5].split(", "))
        assert {listener: int(n) for listener, n in shown.items()} == per_listener

    for heading, key, label in (("artists", "artist_key", "artist"), ("tracks", "track_key", "track")):
        rows = markdown_rows(page, f"Who played the top {heading} most (30 days)")
        assert rows, heading
        top = {play[label]: play[key] for play in plays}
        for _, name, total, listeners_of, who, theirs in rows:
            assert (who, int(theirs), int(total), int(listeners_of)) == played_most(plays, key, top[name]), (
                name
            )
        assert any(int(row[3]) > 1 for row in rows), heading  # some top pick is played by several listeners

    with clean_warehouse.connect() as conn:
        assert_listener_views(conn, listeners)


def assert_listener_views(conn, listeners: list[str]) -> None:
    """`bi.listeners` and `bi.household_artists` against counts of the fact's rows."""
    plays = window_plays(conn, DAY)  # the fact holds only these days
    found = conn.execute(
        "SELECT listener_id, plays, minutes, distinct_tracks, distinct_artists, first_played_at, "
        "last_played_at FROM bi.listeners ORDER BY listener_id"
    ).fetchall()
    bounds = dict(
        (listener, (first, last))
        for listener, first, last in conn.execute(
            "SELECT listener_id, min(played_at), max(played_at) FROM gold.fact_recently_played GROUP BY 1"
        )
    )
    expected = []
    for listener in listeners:
        theirs = [play for play in plays if play["listener"] == listener]
        minutes = round(sum(play["ms"] for play in theirs) / 60_000, 1)
        tracks, artists = {p["track_key"] for p in theirs}, {p["artist_key"] for p in theirs}
        expected.append((listener, len(theirs), minutes, len(tracks), len(artists), *bounds[listener]))
    assert [(row[0], row[1], float(row[2]), *row[3:]) for row in found] == expected

    per_artist: dict[str, Counter] = defaultdict(Counter)
    for play in plays:
        per_artist[play["artist_key"]][play["listener"]] += 1
    rows = conn.execute(
        "SELECT listener_id, artist_key, plays, listeners, household_plays, listener_rank, "
        "artist_listener_rank FROM bi.household_artists"
    ).fetchall()
    assert {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows} == {
        (listener, artist): (n, len(counts), counts.total())
        for artist, counts in per_artist.items()
        for listener, n in counts.items()
    }
    for listener in listeners:  # listener_rank 1: the artist they played most
        (best,) = [r for r in rows if r[0] == listener and r[5] == 1]
        assert best[2] == max(per_artist[a][listener] for a in per_artist)
    for artist, counts in per_artist.items():  # artist_listener_rank 1: who played the artist most
        (most,) = [r for r in rows if r[1] == artist and r[6] == 1]
        assert most[2] == max(counts.values())


def frame_of(rows: list[tuple]) -> pd.DataFrame:
    """`listening_frame` rows with a listener first: (listener, play_id, extraction_date, ...)."""
    frame = listening_frame([row[1:] for row in rows])
    return frame.assign(listener_id=[row[0] for row in rows])


def test_five_listeners_each_get_the_report_of_their_own_plays():
    day = date(2025, 3, 14)
    tracks = [(f"t{k}", f"T{k}", f"a{k % 4}", f"A{k % 4}") for k in range(8)]
    rows = [
        (
            f"l{i % 5}",
            f"p{i}",
            day - timedelta(days=i * 7 % 40),
            i % 24,
            *tracks[i * 3 % 8],
            120_000 + i,
            None,
        )
        for i in range(300)
    ]
    solo = ("t-solo", "Solo", "a-solo", "Only l0's")  # played most, but by one listener: shared by no one
    rows += [("l0", f"s{i}", day - timedelta(days=2), 9, *solo, 200_000, None) for i in range(100)]
    # In the window of the day before, not in the day's.
    rows.append(("gone", "old", day - timedelta(days=30), 8, *tracks[0], 180_000, None))
    frame = frame_of(rows)
    days = [day - timedelta(days=1), day]
    for household, whole in zip(household_reports(frame, days), listening_reports(frame, days), strict=True):
        gone = ["gone"] if household.day < day else []
        assert sorted(household.listeners) == [*gone, *(f"l{k}" for k in range(5))]
        assert household.several
        assert household.household.window.plays == whole.window.plays
        for listener, report in household.listeners.items():
            theirs = frame[frame["listener_id"] == listener]
            (alone,) = listening_reports(theirs, [household.day])
            assert household.totals()[listener] == {
                "day_plays": alone.day.plays,
                "day_minutes": alone.day.minutes,
                "window_plays": alone.window.plays,
                "window_minutes": alone.window.minutes,
            }
            pd.testing.assert_frame_equal(report.window.top_tracks, alone.window.top_tracks)
        assert sum(r.window.plays for r in household.listeners.values()) == whole.window.plays
        shared = household.shared_artists
        assert household.household.window.top_artists["artist"].iloc[0] == "Only l0's"
        assert household.most_artists.iloc[0][["label", "listeners", "listener_id"]].tolist() == [
            "Only l0's",
            1,
            "l0",
        ]
        assert shared["listeners"].tolist() == [5 + len(gone), 5, 5, 5]  # every artist, by every listener
        assert shared["plays_by_listener"][0].get("gone") == (1 if gone else None)


def test_one_listener_is_the_household():
    day = date(2025, 3, 14)
    frame = frame_of([("solo", "p1", day, 8, "t1", "One", "a1", "Alpha", 180_000, None)])
    (household,) = household_reports(frame, [day])
    assert household.listeners == {"solo": household.household} and not household.several
    assert household.shared_artists.empty and household.most_artists.empty
    (later,) = household_reports(frame, [day + timedelta(days=30)])  # the play has left the window
    assert later.listeners == {} and later.household.window.plays == 0


@pytest.mark.parametrize(
    "listener,segment",
    [
        ("alice", "listener=alice"),
        ("a/b", "listener=a%2Fb"),
        ("..", "listener=%2E%2E"),
        ("x.y", "listener=x.y"),
    ],
)
def test_listener_lake_segment_is_one_safe_path_part(listener: str, segment: str):
    assert listener_segment(listener) == segment
