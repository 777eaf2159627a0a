"""The live source against a local Spotify over real HTTP: extraction, paging, faults, tokens, secrets."""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from spotify_assets.sources.live import LiveRecentlyPlayedSource
from spotify_assets.sources.retries import RetryConfig, parse_retry_after, retry_delay
from spotify_assets.sources.spotify_client import SpotifyApiError, SpotifyAuthError, SpotifyRateLimitError
from spotify_assets.sources.token_store import read_token_file
from spotify_assets_tests.fake_spotify import (
    CLIENT_ID,
    CLIENT_SECRET,
    ME,
    RECENTLY_PLAYED,
    REFRESH_TOKEN,
    TOKEN,
    USER_ID,
    FakeResponse,
    FakeSpotify,
    hang,
    played_at_ms,
    rate_limited,
    seed_token_file,
    server_error,
    synthetic_play,
)
from spotify_assets_tests.fake_spotify import fake_settings as make_settings

FIXTURES_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "spotify"
RECORDED = FIXTURES_DIR / "recently_played" / "recently_played_2017_20items.json"
QUICK = RetryConfig(attempts=3, backoff=0.01, max_backoff=0.05)


@pytest.fixture(scope="module")
def recorded_items() -> list[dict[str, Any]]:
    """The 20 items of the recorded `GET /me/player/recently-played` response."""
    return json.loads(RECORDED.read_text(encoding="utf-8"))["items"]


def day(iso: str, zone: str = "UTC") -> tuple[datetime, datetime]:
    """[start, end) of a calendar day in a time zone."""
    start = datetime.combine(date.fromisoformat(iso), clock_time(), ZoneInfo(zone))
    return start, start + timedelta(days=1)


def in_window(items: list[dict[str, Any]], start: datetime, end: datetime) -> list[dict[str, Any]]:
    start_ms, end_ms = (int(moment.timestamp() * 1000) for moment in (start, end))
    return [item for item in items if start_ms <= played_at_ms(item) < end_ms]


def live_source(
    fake: FakeSpotify, tmp_path: Path, *, seed: bool = True, sleeps: list[float] | None = None, **kwargs: Any
) -> LiveRecentlyPlayedSource:
    settings = make_settings(fake, tmp_path, **kwargs.pop("settings", {}))
    if seed:
        seed_token_file(settings, authorized_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC))
    recorder = sleeps if sleeps is not None else []
    return LiveRecentlyPlayedSource(
        settings, timeout=kwargs.pop("timeout", 5.0), retry=QUICK, sleep=kwargs.pop("sleep", recorder.append)
    )


@pytest.mark.parametrize(
    ("day_iso", "zone", "expected"),
    [
        ("2017-05-26", "UTC", 7),
        ("2017-05-27", "UTC", 13),
        ("2017-05-27", "Asia/Tokyo", 15),
        ("2017-05-28", "Asia/Tokyo", 5),
    ],
)
def test_recorded_response_flows_through_the_live_source(
    fake_spotify: FakeSpotify, tmp_path: Path, recorded_items: list, day_iso: str, zone: str, expected: int
) -> None:
    fake_spotify.items = recorded_items
    source = live_source(fake_spotify, tmp_path)
    assert fake_spotify.requests == [], "the constructor must not touch the network"

    start, end = day(day_iso, zone)
    fetch = source.recently_played_between(start, end)

    assert len(fetch.items) == expected
    assert fetch.items == in_window(recorded_items, start, end)  # untouched, newest first
    assert (fetch.reached_api_limit, fetch.requests) == (False, 1)
    (request,) = fake_spotify.requests_to(RECENTLY_PLAYED)
    assert request.query == {"limit": "50", "after": str(int(start.timestamp() * 1000) - 1)}
    assert source.listener_id() == USER_ID


def test_the_20_recorded_items_fall_into_their_days(
    fake_spotify: FakeSpotify, tmp_path: Path, recorded_items: list
) -> None:
    fake_spotify.items = recorded_items
    source = live_source(fake_spotify, tmp_path)
    by_day = {iso: source.recently_played_between(*day(iso)).items for iso in ("2017-05-26", "2017-05-27")}

    assert {iso: len(items) for iso, items in by_day.items()} == {"2017-05-26": 7, "2017-05-27": 13}
    assert by_day["2017-05-27"] + by_day["2017-05-26"] == recorded_items
    assert len(fake_spotify.requests_to(TOKEN)) == 1, "one refresh, then the cached access token"
    stored = read_token_file(tmp_path / "data" / "spotify_token.json")
    assert stored is not None and stored.access_token in fake_spotify.access_tokens
    assert stored.refresh_token == REFRESH_TOKEN
    assert os.stat(tmp_path / "data" / "spotify_token.json").st_mode & 0o777 == 0o600


def test_listener_id_from_settings_skips_me(fake_spotify: FakeSpotify, tmp_path: Path) -> None:
    source = live_source(fake_spotify, tmp_path, settings={"listener_id": "alice"})
    assert source.listener_id() == "alice"
    assert fake_spotify.requests == []


@pytest.mark.parametrize("after_returns", ["oldest", "newest"])
def test_paging_follows_the_cursors_until_exhausted(
    fake_spotify: FakeSpotify, tmp_path: Path, after_returns: str
) -> None:
    start, end = day("2026-03-10")
    plays = [synthetic_play(start + timedelta(minutes=10 * n + 1), n) for n in range(120)]
    earlier = [synthetic_play(start - timedelta(minutes=5 * n + 1), 1000 + n) for n in range(30)]
    later = [synthetic_play(end + timedelta(minutes=n), 2000 + n) for n in range(3)]
    fake_spotify.items, fake_spotify.retention = plays + earlier + later, None
    fake_spotify.after_returns = after_returns

    fetch = live_source(fake_spotify, tmp_path).recently_played_between(start, end)

    assert [item["track"]["id"] for item in fetch.items] == [play["track"]["id"] for play in reversed(plays)]
    assert not fetch.reached_api_limit
    assert fetch.requests == len(fake_spotify.requests_to(RECENTLY_PLAYED)) > 2
    assert all(request.query["limit"] == "50" for request in fake_spotify.requests_to(RECENTLY_PLAYED))


@pytest.mark.parametrize(
    ("in_day", "before_day", "after_day", "expected_items", "reached"),
    [
        (30, 10, 0, 30, False),  # the window reaches back past its start: complete
        (60, 0, 0, 50, True),  # Spotify kept only the last 50: older plays of the day may be gone
        (0, 5, 50, 0, True),  # the day's plays have all scrolled out of the last 50
        (50, 1, 0, 50, True),  # a full page, and the last 50 do not reach back past the start
    ],
)
def test_reached_api_limit_when_the_last_50_do_not_reach_back_to_the_start(
    fake_spotify: FakeSpotify,
    tmp_path: Path,
    in_day: int,
    before_day: int,
    after_day: int,
    expected_items: int,
    reached: bool,
) -> None:
    start, end = day("2026-03-10")
    fake_spotify.items = (
        [synthetic_play(start + timedelta(minutes=5 * n + 1), n) for n in range(in_day)]
        + [synthetic_play(start - timedelta(hours=n + 1), 100 + n) for n in range(before_day)]
        + [synthetic_play(end + timedelta(minutes=n + 1), 200 + n) for n in range(after_day)]
    )
    fetch = live_source(fake_spotify, tmp_path).recently_played_between(start, end)
    assert (len(fetch.items), fetch.reached_api_limit) == (expected_items, reached)


def test_rate_limit_with_retry_after_1_waits_then_succeeds(
    fake_spotify: FakeSpotify, tmp_path: Path, recorded_items: list
) -> None:
    fake_spotify.items = recorded_items
    fake_spotify.script(RECENTLY_PLAYED, rate_limited(1))
    source = live_source(fake_spotify, tmp_path, sleep=time.sleep)

    fetch = source.recently_played_between(*day("2017-05-27"))

    assert len(fetch.items) == 13
    first, retry = fake_spotify.requests_to(RECENTLY_PLAYED)  # retried once, by us (spotipy does not retry)
    assert retry.received_at - first.received_at >= 1.0, "the retry waited out Retry-After"


def test_rate_limit_with_retry_after_7200_fails_at_once(fake_spotify: FakeSpotify, tmp_path: Path) -> None:
    fake_spotify.script(RECENTLY_PLAYED, rate_limited(7200))
    sleeps: list[float] = []
    source = live_source(fake_spotify, tmp_path, sleeps=sleeps)

    with pytest.raises(SpotifyRateLimitError) as caught:
        source.recently_played_between(*day("2017-05-27"))

    assert sleeps == [], "no wait at all"
    assert "rate limit" in str(caught.value) and "7200 s" in str(caught.value)
    assert caught.value.retry_after == 7200
    assert len(fake_spotify.requests_to(RECENTLY_PLAYED)) == 1, "spotipy's urllib3 retry must not wait for it"


def test_server_error_then_success(fake_spotify: FakeSpotify, tmp_path: Path, recorded_items: list) -> None:
    fake_spotify.items = recorded_items
    fake_spotify.script(RECENTLY_PLAYED, server_error(500))
    sleeps: list[float] = []
    fetch = live_source(fake_spotify, tmp_path, sleeps=sleeps).recently_played_between(*day("2017-05-26"))
    assert len(fetch.items) == 7
    assert sleeps == [QUICK.backoff]
    assert len(fake_spotify.requests_to(RECENTLY_PLAYED)) == 2


def test_server_errors_are_retried_a_bounded_number_of_times(
    fake_spotify: FakeSpotify, tmp_path: Path
) -> None:
    fake_spotify.script(RECENTLY_PLAYED, *[server_error(502)] * 5)
    sleeps: list[float] = []
    with pytest.raises(SpotifyApiError, match="HTTP 502 after 3 attempt"):
        live_source(fake_spotify, tmp_path, sleeps=sleeps).recently_played_between(*day("2017-05-26"))
    assert len(fake_spotify.requests_to(RECENTLY_PLAYED)) == QUICK.attempts
    assert sleeps == [0.01, 0.02]


def test_a_response_that_never_comes_times_out(fake_spotify: FakeSpotify, tmp_path: Path) -> None:
    fake_spotify.script(RECENTLY_PLAYED, *[hang(30)] * QUICK.attempts)
    source = live_source(fake_spotify, tmp_path, timeout=0.25)

    began = time.monotonic()
    with pytest.raises(SpotifyApiError, match="timed out") as caught:
        source.recently_played_between(*day("2017-05-26"))

    assert time.monotonic() - began < 15.0, "gave up long before the first answer (30 s) came"
    assert "timeout 0.25 s" in str(caught.value)
    assert len(fake_spotify.requests_to(RECENTLY_PLAYED)) == QUICK.attempts


def test_one_timeout_then_success(fake_spotify: FakeSpotify, tmp_path: Path, recorded_items: list) -> None:
    fake_spotify.items = recorded_items
    fake_spotify.script(ME, hang(30))
    source = live_source(fake_spotify, tmp_path, timeout=0.25)
    assert source.listener_id() == USER_ID
    assert len(fake_spotify.requests_to(ME)) == 2


def test_token_endpoint_faults_follow_the_same_policy(fake_spotify: FakeSpotify, tmp_path: Path) -> None:
    fake_spotify.script(TOKEN, server_error(503), rate_limited(7200))
    with pytest.raises(SpotifyRateLimitError, match="token refresh"):
        live_source(fake_spotify, tmp_path).listener_id()
    assert len(fake_spotify.requests_to(TOKEN)) == 2


def test_invalid_grant_fails_at_once_and_says_to_run_auth(fake_spotify: FakeSpotify, tmp_path: Path) -> None:
    fake_spotify.invalid_grant = True
    sleeps: list[float] = []
    source = live_source(fake_spotify, tmp_path, sleeps=sleeps)

    with pytest.raises(SpotifyAuthError) as caught:
        source.recently_played_between(*day("2017-05-26"))

    assert sleeps == [] and len(fake_spotify.requests_to(TOKEN)) == 1, "no retry of a refused grant"
    message = str(caught.value)
    assert "invalid_grant" in message and "spotify-assets auth" in message
    assert "2026-01-05" in message and "2026-07-06" in message  # authorised, and the end of that consent
    assert caught.value.error == "invalid_grant"
    assert len(fake_spotify.requests_to(TOKEN)) == 1, "invalid_grant is not retried"
    assert fake_spotify.requests_to(RECENTLY_PLAYED) == []


def test_without_any_token_the_source_says_to_run_auth(fake_spotify: FakeSpotify, tmp_path: Path) -> None:
    source = live_source(fake_spotify, tmp_path, seed=False)
    with pytest.raises(SpotifyAuthError, match="Run `spotify-assets auth`"):
        source.listener_id()
    with pytest.raises(SpotifyAuthError, match="spotify-assets auth"):
        source.recently_played_between(*day("2017-05-26"))
    assert fake_spotify.requests == []


def test_a_401_refreshes_the_access_token_once(
    fake_spotify: FakeSpotify, tmp_path: Path, recorded_items: list
) -> None:
    fake_spotify.items = recorded_items
    settings = make_settings(fake_spotify, tmp_path)
    # A cached access token the server no longer accepts, though it has not expired yet.
    seed_token_file(settings, access_token="fake-access-revoked", expires_at=int(time.time()) + 3000)
    source = LiveRecentlyPlayedSource(settings, retry=QUICK, sleep=lambda _: None)

    assert len(source.recently_played_between(*day("2017-05-27")).items) == 13
    assert len(fake_spotify.requests_to(TOKEN)) == 1
    assert len(fake_spotify.requests_to(RECENTLY_PLAYED)) == 2


def test_refresh_token_from_the_environment_wins(
    fake_spotify: FakeSpotify, tmp_path: Path, recorded_items: list
) -> None:
    fake_spotify.items = recorded_items
    settings = make_settings(fake_spotify, tmp_path, spotify_refresh_token=REFRESH_TOKEN)
    seed_token_file(settings)  # a file holding another, stale refresh token
    path = Path(settings.spotify_token_file)
    path.write_text(path.read_text().replace(REFRESH_TOKEN, "fake-stale-refresh-token"))
    before = path.read_text()

    source = LiveRecentlyPlayedSource(settings, retry=QUICK, sleep=lambda _: None)
    assert len(source.recently_played_between(*day("2017-05-27")).items) == 13
    assert fake_spotify.requests_to(TOKEN)[0].form["refresh_token"] == REFRESH_TOKEN
    assert path.read_text() == before, "a token from the environment is not written to the file"


def test_no_secret_appears_in_logs_or_errors(
    fake_spotify: FakeSpotify, tmp_path: Path, recorded_items: list, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_spotify.items = recorded_items
    source = live_source(fake_spotify, tmp_path)
    source.recently_played_between(*day("2017-05-27"))
    source.listener_id()
    errors: list[BaseException] = []
    for fault in (rate_limited(7200), server_error(500), server_error(500), server_error(500)):
        fake_spotify.script(RECENTLY_PLAYED, fault)
    for _ in range(2):
        with pytest.raises((SpotifyRateLimitError, SpotifyApiError)) as caught:
            source.recently_played_between(*day("2017-05-26"))
        errors.append(caught.value)
    fake_spotify.revoke_access_tokens()
    fake_spotify.invalid_grant = True
    with pytest.raises(SpotifyAuthError) as caught:
        source.recently_played_between(*day("2017-05-26"))
    errors.append(caught.value)

    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    secrets = [CLIENT_SECRET, REFRESH_TOKEN, basic, *fake_spotify.issued_access_tokens]
    assert len(secrets) > 3 and "Bearer ***" in caplog.text  # spotipy logged its headers, masked
    texts = [caplog.text]
    for error in errors:
        while error is not None:
            texts += [str(error), repr(error)]
            error = error.__cause__ or error.__context__
    for text in texts:
        for secret in secrets:
            assert secret not in text


@pytest.mark.parametrize(
    ("status", "retry_after", "attempt", "expected"),
    [
        (429, 1.0, 1, 1.0),
        (429, 60.0, 1, 60.0),
        (429, 61.0, 1, None),
        (429, 7200.0, 1, None),
        (429, None, 2, 2.0),
        (500, None, 1, 1.0),
        (503, None, 3, 4.0),
        (None, None, 2, 2.0),  # a timeout
        (500, None, 4, None),  # attempts used up
        (404, None, 1, None),
        (401, None, 1, None),
    ],
)
def test_retry_delay(
    status: int | None, retry_after: float | None, attempt: int, expected: float | None
) -> None:
    assert retry_delay(status, retry_after, attempt, RetryConfig()) == expected


def test_backoff_is_capped() -> None:
    assert retry_delay(500, None, 9, RetryConfig(attempts=20, backoff=1, max_backoff=30)) == 30


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", 1.0), ("7200", 7200.0), (None, None), ("soon", None), ("Thu, 01 Jan 1970 00:02:00 GMT", 60.0)],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=60.0) == expected


def test_a_fetch_is_dated_by_spotify_and_reports_the_oldest_play_remembered(
    fake_spotify: FakeSpotify, tmp_path: Path
) -> None:
    start = datetime(2026, 3, 2, 8, tzinfo=UTC)
    fake_spotify.items = [synthetic_play(start + timedelta(minutes=n), n) for n in reversed(range(80))]
    fake_spotify.now = start + timedelta(minutes=70, seconds=30)  # plays 0..70 are listed, the last 50 kept
    fetch = live_source(fake_spotify, tmp_path).recently_played_between(*day("2026-03-02"))
    assert fetch.fetched_at == fake_spotify.now  # the Date header, not this machine's clock
    assert len(fetch.items) == 50 and fetch.reached_api_limit
    assert fetch.oldest_played_at == start + timedelta(minutes=21)


def test_retries_stop_at_the_budget_so_a_run_never_waits_long(
    fake_spotify: FakeSpotify, tmp_path: Path
) -> None:
    fake_spotify.script(RECENTLY_PLAYED, *[server_error()] * 10)
    moments = iter(range(0, 1000, 20))  # each look at the clock is 20 s later than the one before
    settings = make_settings(fake_spotify, tmp_path)
    seed_token_file(settings)
    source = LiveRecentlyPlayedSource(
        settings,
        retry=RetryConfig(attempts=10, backoff=1.0, budget=45.0),
        sleep=lambda _: None,
        clock=lambda: float(next(moments)),
    )
    with pytest.raises(SpotifyApiError, match="HTTP 500"):
        source.recently_played_between(*day("2026-03-02"))
    assert len(fake_spotify.requests_to(RECENTLY_PLAYED)) < 10


def test_an_item_without_a_valid_played_at_does_not_fail_the_fetch(
    fake_spotify: FakeSpotify, tmp_path: Path, recorded_items: list
) -> None:
    odd = [{"played_at": "2017-05-27T25:99:00Z", "track": None}, {"track": None}, "not an object"]
    page = {"items": [*recorded_items[:10], *odd, *recorded_items[10:]], "cursors": None, "limit": 50}
    fake_spotify.script(RECENTLY_PLAYED, FakeResponse(200, page))
    start, end = day("2017-05-27")
    fetch = live_source(fake_spotify, tmp_path).recently_played_between(start, end)
    assert fetch.items == in_window(recorded_items, start, end)
