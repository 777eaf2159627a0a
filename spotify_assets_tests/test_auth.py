"""`spotify-assets auth` against a local Spotify, and the token file it writes."""

from __future__ import annotations

import json
import logging
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from pydantic import SecretStr

from spotify_assets.contracts.settings import Settings
from spotify_assets.sources.auth import (
    build_authorize_url,
    exchange_code,
    redirect_uri_for,
    run_auth,
    validate_redirect_uri,
)
from spotify_assets.sources.auth_redirect import CallbackListener
from spotify_assets.sources.live import LiveRecentlyPlayedSource
from spotify_assets.sources.spotify_client import SpotifyAuthError
from spotify_assets.sources.token_store import (
    StoredToken,
    load_token,
    read_token_file,
    reauthorization_due,
    write_token_file,
)
from spotify_assets_tests.fake_spotify import (
    AUTHORIZE,
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    TOKEN,
    USER_ID,
    FakeSpotify,
)
from spotify_assets_tests.fake_spotify import fake_settings as make_settings


def no_input(prompt: str) -> str:
    raise AssertionError(f"the loopback flow must not prompt ({prompt!r})")


def authorize_url_in(lines: list[str], fake: FakeSpotify) -> str:
    (url,) = [line for line in lines if line.startswith(f"{fake.url}{AUTHORIZE}?")]
    return url


def test_loopback_flow_stores_a_0600_token_the_pipeline_uses(
    fake_spotify: FakeSpotify, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = make_settings(fake_spotify, tmp_path)
    lines: list[str] = []
    clicks: list[requests.Response] = []

    def click(url: str) -> bool:
        """The browser: Spotify's consent page approves and redirects to our loopback listener."""
        clicks.append(requests.get(url, timeout=5))
        return True

    code = run_auth(
        settings, open_browser=True, print_fn=lines.append, input_fn=no_input, port=0, open_url=click
    )

    assert code == 0, lines
    assert clicks[0].status_code == 200 and "close this tab" in clicks[0].text
    (authorize,) = fake_spotify.requests_to(AUTHORIZE)
    assert authorize.query["scope"] == "user-read-recently-played"
    redirect = urlsplit(authorize.query["redirect_uri"])
    assert (redirect.scheme, redirect.hostname, redirect.path) == ("http", "127.0.0.1", "/callback")
    (exchange,) = fake_spotify.requests_to(TOKEN)
    assert exchange.form["grant_type"] == "authorization_code"
    assert exchange.form["redirect_uri"] == authorize.query["redirect_uri"]

    path = tmp_path / "data" / "spotify_token.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert stored["refresh_token"] == REFRESH_TOKEN and stored["user_id"] == USER_ID
    authorized_at = datetime.fromisoformat(stored["authorized_at"])
    assert abs(datetime.now(UTC) - authorized_at) < timedelta(minutes=1)
    assert set(stored) == {
        "refresh_token",
        "access_token",
        "expires_at",
        "authorized_at",
        "user_id",
        "scope",
        "refresh_token_sha256",
    }

    output = "\n".join(lines)
    assert USER_ID in output
    assert f"{(authorized_at + timedelta(days=182)):%Y-%m-%d}" in output
    for secret in (REFRESH_TOKEN, CLIENT_SECRET, *fake_spotify.issued_access_tokens):
        assert secret not in output and secret not in caplog.text

    # The pipeline finds the token without being told where it is.
    source = LiveRecentlyPlayedSource(settings)
    assert source.listener_id() == USER_ID


def test_no_browser_flow_accepts_the_pasted_redirect(fake_spotify: FakeSpotify, tmp_path: Path) -> None:
    settings = make_settings(fake_spotify, tmp_path)
    lines: list[str] = []

    def paste(prompt: str) -> str:
        """The person opens the printed URL elsewhere and pastes where the browser ended up."""
        answer = requests.get(authorize_url_in(lines, fake_spotify), allow_redirects=False, timeout=5)
        assert answer.status_code == 302
        return answer.headers["Location"]

    code = run_auth(settings, open_browser=False, print_fn=lines.append, input_fn=paste, port=None)

    assert code == 0, lines
    assert fake_spotify.requests_to(TOKEN)[0].form["redirect_uri"] == "http://127.0.0.1:8888/callback"
    token = read_token_file(tmp_path / "data" / "spotify_token.json")
    assert token is not None and (token.refresh_token, token.user_id) == (REFRESH_TOKEN, USER_ID)


def test_print_env_prints_the_line_and_keeps_only_metadata_on_disk(
    fake_spotify: FakeSpotify, tmp_path: Path
) -> None:
    settings = make_settings(fake_spotify, tmp_path)
    lines: list[str] = []
    code = run_auth(
        settings,
        open_browser=True,
        print_fn=lines.append,
        input_fn=no_input,
        port=0,
        print_env=True,
        open_url=lambda url: requests.get(url, timeout=5),
    )

    assert code == 0, lines
    assert f"SPOTIFY_REFRESH_TOKEN={REFRESH_TOKEN}" in lines
    path = tmp_path / "data" / "spotify_token.json"
    assert REFRESH_TOKEN not in path.read_text()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # With the token in the environment, the consent date still applies (the expiry check needs it).
    token = load_token(settings.model_copy(update={"spotify_refresh_token": SecretStr(REFRESH_TOKEN)}))
    assert token is not None and token.origin == "env"
    assert (token.refresh_token, token.user_id) == (REFRESH_TOKEN, USER_ID)
    assert token.authorized_at is not None
    other = load_token(settings.model_copy(update={"spotify_refresh_token": SecretStr("another-token")}))
    assert other is not None and other.authorized_at is None, "metadata of another consent must not apply"


def test_a_redirect_with_the_wrong_state_is_refused(fake_spotify: FakeSpotify, tmp_path: Path) -> None:
    settings = make_settings(fake_spotify, tmp_path)
    lines: list[str] = []

    def paste(prompt: str) -> str:
        location = requests.get(authorize_url_in(lines, fake_spotify), allow_redirects=False, timeout=5)
        return location.headers["Location"].replace("state=", "state=forged")

    assert run_auth(settings, open_browser=False, print_fn=lines.append, input_fn=paste) == 1
    assert "state" in lines[-1]
    assert fake_spotify.requests_to(TOKEN) == []
    assert not (tmp_path / "data" / "spotify_token.json").exists()


def test_declined_consent_is_reported(fake_spotify: FakeSpotify, tmp_path: Path) -> None:
    settings = make_settings(fake_spotify, tmp_path)
    lines: list[str] = []

    def paste(prompt: str) -> str:
        state = parse_qs(urlsplit(authorize_url_in(lines, fake_spotify)).query)["state"][0]
        return f"http://127.0.0.1:8888/callback?error=access_denied&state={state}"

    assert run_auth(settings, open_browser=False, print_fn=lines.append, input_fn=paste) == 1
    assert "declined" in lines[-1]


@pytest.mark.parametrize("uri", ["http://localhost:8888/callback", "http://LOCALHOST/callback"])
def test_a_localhost_redirect_uri_is_refused(fake_spotify: FakeSpotify, tmp_path: Path, uri: str) -> None:
    settings = make_settings(fake_spotify, tmp_path, spotify_redirect_uri=uri)
    lines: list[str] = []
    assert (
        run_auth(settings, open_browser=True, print_fn=lines.append, input_fn=no_input, open_url=print) == 2
    )
    assert "localhost" in lines[0] and "http://127.0.0.1:8888/callback" in lines[0]
    assert fake_spotify.requests == []


def test_missing_app_credentials_are_reported(fake_spotify: FakeSpotify, tmp_path: Path) -> None:
    settings = make_settings(fake_spotify, tmp_path, spotify_client_secret=None)
    lines: list[str] = []
    assert run_auth(settings, open_browser=False, print_fn=lines.append, input_fn=no_input) == 2
    assert "SPOTIFY_CLIENT_SECRET" in lines[0]


@pytest.mark.parametrize(
    ("uri", "accepted"),
    [
        ("http://127.0.0.1:8888/callback", True),
        ("http://127.0.0.1/callback", True),  # dynamic loopback port
        ("http://[::1]:8888/callback", True),
        ("https://example.com/spotify/callback", True),
        ("http://localhost:8888/callback", False),
        ("http://192.168.1.20:8888/callback", False),
    ],
)
def test_validate_redirect_uri(uri: str, accepted: bool) -> None:
    if accepted:
        validate_redirect_uri(uri)
    else:
        with pytest.raises(ValueError, match="127.0.0.1"):
            validate_redirect_uri(uri)


def test_build_authorize_url_uses_the_accounts_base_url_and_the_port() -> None:
    settings = Settings(spotify_client_id=CLIENT_ID, spotify_accounts_base_url="http://127.0.0.1:9/accounts/")
    url = urlsplit(build_authorize_url(settings, "s7ate", 43210))
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == "http://127.0.0.1:9/accounts/authorize"
    assert query == {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": "http://127.0.0.1:43210/callback",
        "scope": "user-read-recently-played",
        "state": "s7ate",
    }
    assert redirect_uri_for(settings, None) == "http://127.0.0.1:8888/callback"
    ipv6 = Settings(spotify_redirect_uri="http://[::1]:8888/cb")
    assert redirect_uri_for(ipv6, 9000) == "http://[::1]:9000/cb"


def test_the_listener_takes_one_redirect_and_checks_its_state() -> None:
    with CallbackListener("127.0.0.1", 0, "/callback", "expected") as listener:
        base = f"http://127.0.0.1:{listener.port}"
        assert requests.get(f"{base}/favicon.ico", timeout=5).status_code == 404
        answer = requests.get(f"{base}/callback?code=abc&state=forged", timeout=5)
        assert answer.status_code == 400
        with pytest.raises(SpotifyAuthError, match="state"):
            listener.wait(1)
        assert requests.get(f"{base}/callback?code=abc&state=expected", timeout=5).status_code == 404

    with CallbackListener("127.0.0.1", 0, "/callback", "expected") as listener:
        requests.get(f"http://127.0.0.1:{listener.port}/callback?code=abc&state=expected", timeout=5)
        assert listener.wait(1) == "abc"

    with (
        CallbackListener("127.0.0.1", 0, "/callback", "expected") as listener,
        pytest.raises(SpotifyAuthError, match="No redirect"),
    ):
        listener.wait(0.05)


def test_exchange_code_refuses_an_unknown_code(fake_spotify: FakeSpotify, tmp_path: Path) -> None:
    settings = make_settings(fake_spotify, tmp_path)
    with pytest.raises(SpotifyAuthError, match="invalid_grant") as caught:
        exchange_code(settings, "made-up-code", "http://127.0.0.1:8888/callback")
    assert CLIENT_SECRET not in str(caught.value) and "made-up-code" not in str(caught.value)


def test_token_file_is_written_atomically_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "data" / "spotify_token.json"
    token = StoredToken(
        refresh_token="r", access_token="a", expires_at=1, authorized_at=datetime(2026, 1, 5, tzinfo=UTC)
    )
    previous = os.umask(0)
    try:
        write_token_file(path, token)
        write_token_file(path, token)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [entry.name for entry in path.parent.iterdir()] == ["spotify_token.json"]
    assert read_token_file(path) == token
    assert read_token_file(tmp_path / "missing.json") is None
    path.write_text("{not json")
    with pytest.raises(ValueError, match="spotify-assets auth"):
        read_token_file(path)


def test_environment_refresh_token_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    write_token_file(path, StoredToken(refresh_token="from-file", user_id="u"))
    from_file = load_token(Settings(spotify_token_file=str(path)))
    assert from_file is not None and (from_file.refresh_token, from_file.origin) == ("from-file", "file")
    from_env = load_token(Settings(spotify_token_file=str(path), spotify_refresh_token="from-env"))
    assert from_env is not None and (from_env.refresh_token, from_env.origin, from_env.user_id) == (
        "from-env",
        "env",
        None,
    )
    assert load_token(Settings(spotify_token_file=str(tmp_path / "none.json"))) is None


def test_reauthorization_is_due_182_days_after_consent() -> None:
    assert reauthorization_due(datetime(2026, 1, 5, 9, 30, tzinfo=UTC)) == datetime(
        2026, 7, 6, 9, 30, tzinfo=UTC
    )
    assert reauthorization_due(datetime(2026, 1, 5)) == datetime(2026, 7, 6, tzinfo=UTC)  # naive means UTC
