"""Several listeners through the CLI: `auth --listener`, `listeners`, `listeners --remove`, against the
stand-in Spotify and a real Dagster instance (SQLite) in a temporary DAGSTER_HOME."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import webbrowser
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import requests

from spotify_assets.contracts.listener_scope import LISTENER_PARTITIONS, check_listener_name
from spotify_assets.contracts.settings import get_settings
from spotify_assets.operations.cli import main
from spotify_assets.sources.token_store import StoredToken, write_token_file
from spotify_assets_tests.fake_spotify import AUTHORIZE, CLIENT_ID, CLIENT_SECRET, USER_ID, FakeSpotify

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

ALICE, BOB = "alice.spotify", "bob.spotify"
SPOTIFY_ASSETS = str(Path(sys.executable).parent / "spotify-assets")  # the console script


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, fake_spotify: FakeSpotify, tmp_path: Path) -> Iterator[Path]:
    """A user's shell in `tmp_path`: app credentials for the stand-in Spotify, no token yet, a fresh
    DAGSTER_HOME on SQLite; the browser is one that approves the consent page at once."""
    monkeypatch.chdir(tmp_path)
    for name in ("SPOTIFY_REFRESH_TOKEN", "LISTENER_ID", "SPOTIFY_REDIRECT_URI"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "SPOTIFY_CLIENT_ID": CLIENT_ID,
        "SPOTIFY_CLIENT_SECRET": CLIENT_SECRET,
        "SPOTIFY_API_BASE_URL": f"{fake_spotify.url}/v1/",
        "SPOTIFY_ACCOUNTS_BASE_URL": f"{fake_spotify.url}/",
        "SPOTIFY_TOKEN_FILE": str(tmp_path / "data" / "spotify_token.json"),
        "SPOTIFY_TOKEN_DIR": str(tmp_path / "data" / "spotify_tokens"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "DAGSTER_STORAGE": "sqlite",
    }.items():
        monkeypatch.setenv(name, value)
    # Looked up when `auth --listener` opens the browser (plain `auth` binds webbrowser.open at import).
    monkeypatch.setattr(webbrowser, "open", lambda url: requests.get(url, timeout=5).ok)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    """`spotify-assets argv...` in this process: the exit code and the printed lines."""
    code = main(list(argv))
    return code, capsys.readouterr().out.splitlines()


def listener_keys(home: Path) -> list[str]:
    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        return list(instance.get_dynamic_partitions(LISTENER_PARTITIONS))


def row_of(lines: list[str], name: str) -> list[str]:
    (line,) = [line for line in lines if line.split()[0] == name]
    return line.split()


def test_two_listeners_are_added_listed_and_one_removed(
    home: Path,
    fake_spotify: FakeSpotify,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_spotify.consenting_users.extend([ALICE, BOB])
    code, alice_out = run(capsys, "auth", "--listener", "alice", "--port", "0")
    assert code == 0, alice_out
    code, bob_out = run(capsys, "auth", "--listener", "--port", "0")  # named after the Spotify user id
    assert code == 0, bob_out

    tokens = home / "data" / "spotify_tokens"
    assert sorted(path.name for path in tokens.iterdir()) == ["alice.json", f"{BOB}.json"]
    alice, bob = (json.loads((tokens / name).read_text()) for name in ("alice.json", f"{BOB}.json"))
    assert (alice["user_id"], bob["user_id"]) == (ALICE, BOB)
    assert alice["refresh_token"] != bob["refresh_token"]
    for path in tokens.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (home / "data" / "spotify_token.json").exists(), "the single-listener token is not touched"
    assert listener_keys(home) == ["alice", BOB]
    assert f"Token of listener alice saved to {tokens / 'alice.json'} (mode 0600)." in alice_out
    assert any(line.startswith(f"Registered listener {BOB}") for line in bob_out)
    secrets = [alice["refresh_token"], bob["refresh_token"], *fake_spotify.issued_access_tokens]
    for secret in secrets:
        assert secret not in "\n".join(alice_out + bob_out) and secret not in caplog.text

    # `spotify-assets listeners`, as a user runs it.
    listing = subprocess.run(
        [SPOTIFY_ASSETS, "listeners"],
        cwd=home, env=dict(os.environ), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    today = datetime.now(UTC)
    due = f"{today + timedelta(days=182):%Y-%m-%d}"
    assert row_of(lines, "alice") == [
        "alice", ALICE, f"{today:%Y-%m-%d}", due, "ok", str(tokens / "alice.json")
    ]  # fmt: skip
    assert row_of(lines, BOB) == [BOB, BOB, f"{today:%Y-%m-%d}", due, "ok", str(tokens / f"{BOB}.json")]
    assert len(lines) == 3, lines  # the header and the two listeners: no default listener without its token
    for secret in secrets:
        assert secret not in listing.stdout + listing.stderr

    bob_before = (tokens / f"{BOB}.json").read_bytes()
    code, removed = run(capsys, "listeners", "--remove", "alice")
    assert code == 0, removed
    assert "stay" in " ".join(removed)  # their captured plays are kept, and the output says so
    assert listener_keys(home) == [BOB]
    assert not (tokens / "alice.json").exists()
    assert (tokens / f"{BOB}.json").read_bytes() == bob_before

    code, again = run(capsys, "listeners", "--remove", "alice")
    assert code == 1 and "no listener named 'alice'" in again[-1] and BOB in again[-1]
    code, lines = run(capsys, "listeners")
    assert code == 0 and [line.split()[0] for line in lines[1:]] == [BOB]


def test_plain_auth_still_writes_the_single_token_and_registers_nothing(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A subprocess, as a user runs it: its browser (BROWSER) approves the consent page.
    browser = home / "browser.py"
    browser.write_text("import sys, urllib.request\nurllib.request.urlopen(sys.argv[1], timeout=10).read()\n")
    env = {**os.environ, "BROWSER": f"{sys.executable} {browser} %s"}
    auth = subprocess.run(
        [SPOTIFY_ASSETS, "auth", "--port", "0"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert auth.returncode == 0, auth.stdout + auth.stderr
    token_file = home / "data" / "spotify_token.json"
    assert json.loads(token_file.read_text())["user_id"] == USER_ID
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert not (home / "data" / "spotify_tokens").exists()
    assert not (home / "dagster_home").exists(), "plain auth does not touch the Dagster instance"

    code, lines = run(capsys, "listeners")
    assert code == 0, lines
    assert listener_keys(home) == []
    (default,) = lines[1:]
    assert default.split()[:2] == [USER_ID, USER_ID] and " ok " in default
    assert default.endswith(f"{token_file} (default listener, SPOTIFY_TOKEN_FILE)")

    monkeypatch.setenv("LISTENER_ID", "me")  # the name the pipeline gives that listener's plays
    get_settings.cache_clear()
    code, lines = run(capsys, "listeners")
    assert code == 0 and lines[1].split()[:2] == ["me", USER_ID]

    # A SPOTIFY_REFRESH_TOKEN of another consent wins over the file: the file's date and user do not apply.
    monkeypatch.setenv("SPOTIFY_REFRESH_TOKEN", "another-refresh-token")
    get_settings.cache_clear()
    code, lines = run(capsys, "listeners")
    assert code == 0 and lines[1].split()[:5] == ["me", "-", "-", "-", "ok"]
    assert "another-refresh-token" not in "\n".join(lines)


def test_a_listener_on_a_server_pastes_the_redirect(
    home: Path, fake_spotify: FakeSpotify, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def paste(prompt: str) -> str:
        """The listener opens the printed URL on their phone; the address their browser ends on is pasted."""
        (url,) = [
            line for line in capsys.readouterr().out.splitlines() if f"{fake_spotify.url}{AUTHORIZE}?" in line
        ]
        return requests.get(url, allow_redirects=False, timeout=5).headers["Location"]

    monkeypatch.setattr("builtins.input", paste)
    fake_spotify.consenting_users.append(ALICE)
    code, out = run(capsys, "auth", "--listener", "alice", "--no-browser")
    assert code == 0, out
    assert listener_keys(home) == ["alice"]
    assert json.loads((home / "data" / "spotify_tokens" / "alice.json").read_text())["user_id"] == ALICE


def test_a_listener_file_never_receives_another_users_token(
    home: Path, fake_spotify: FakeSpotify, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_spotify.consenting_users.extend([ALICE, BOB, ALICE, ALICE, ALICE])
    assert run(capsys, "auth", "--listener", "alice", "--port", "0")[0] == 0
    alice_file = home / "data" / "spotify_tokens" / "alice.json"
    alice_before = alice_file.read_bytes()

    # The browser was still signed in as someone else: nothing is saved.
    code, out = run(capsys, "auth", "--listener", "alice", "--port", "0")
    assert code == 2 and f"Spotify user {BOB} consented" in out[-1]
    assert alice_file.read_bytes() == alice_before
    code, out = run(capsys, "auth", "--listener", "carol", "--port", "0")
    assert code == 2 and f"Spotify user {ALICE} is listener 'alice' already" in out[-1]
    code, out = run(capsys, "auth", "--listener", "Alice", "--port", "0")
    assert code == 2 and "differ by case only" in out[-1]
    assert sorted(path.name for path in alice_file.parent.iterdir()) == ["alice.json"]
    assert listener_keys(home) == ["alice"]

    # The same person again: the token is renewed in place.
    code, out = run(capsys, "auth", "--listener", "alice", "--port", "0")
    assert code == 0 and "renewed" in out[-1]
    assert alice_file.read_bytes() != alice_before
    assert listener_keys(home) == ["alice"]


def test_missing_broken_and_expired_tokens_are_listed_with_their_state(
    home: Path, fake_spotify: FakeSpotify, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_spotify.consenting_users.extend(["u1", "u2", "u3"])
    for name in ("gone", "broken", "old"):
        assert run(capsys, "auth", "--listener", name, "--port", "0")[0] == 0
    tokens = home / "data" / "spotify_tokens"
    (tokens / "gone.json").unlink()
    (tokens / "broken.json").write_text("{not json")
    consent = datetime.now(UTC) - timedelta(days=200)
    write_token_file(tokens / "old.json", StoredToken(refresh_token="r", user_id="u3", authorized_at=consent))

    code, lines = run(capsys, "listeners")
    assert code == 0, lines
    assert row_of(lines, "gone")[1:] == ["-", "-", "-", "no", "token", "file", str(tokens / "gone.json")]
    assert row_of(lines, "broken")[1:] == [
        "-",
        "-",
        "-",
        "broken",
        "token",
        "file",
        str(tokens / "broken.json"),
    ]
    assert row_of(lines, "old")[2:5] == [
        f"{consent:%Y-%m-%d}",
        f"{consent + timedelta(days=182):%Y-%m-%d}",
        "expired",
    ]

    assert run(capsys, "listeners", "--remove", "gone")[0] == 0
    assert listener_keys(home) == ["broken", "old"]

    # A key added by hand (the Dagster UI can add partitions) that is no listener name: listed, removable.
    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        instance.add_dynamic_partitions(LISTENER_PARTITIONS, ["../x|y"])
    code, lines = run(capsys, "listeners")
    assert code == 0 and "invalid name" in " ".join(row_of(lines, "../x|y"))
    assert run(capsys, "listeners", "--remove", "../x|y")[0] == 0
    assert listener_keys(home) == ["broken", "old"]


@pytest.mark.parametrize("name", ["../evil", "a/b", "a|b", "a...b", "a..b", ".hidden", "x" * 65, "a b", "_a"])
def test_invalid_listener_names_are_refused_before_anything_happens(
    home: Path, fake_spotify: FakeSpotify, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    code, out = run(capsys, "auth", "--listener", name, "--port", "0")
    assert code == 2 and "cannot be a listener name" in out[-1]
    assert fake_spotify.requests_to(AUTHORIZE) == []
    code, out = run(capsys, "listeners", "--remove", name)
    assert code == 1 and "cannot be a listener name" in out[-1]
    assert not (home / "data").exists()


@pytest.mark.parametrize("name", ["alice", "Bob_2", "fake.listener", "31xyzabcdef0123456789", "a" * 64])
def test_valid_listener_names(name: str) -> None:
    assert check_listener_name(name) == name
    assert (
        dg.MultiPartitionKey({"date": "2026-01-01", "listener": name}).keys_by_dimension["listener"] == name
    )


def test_a_spotify_user_id_that_is_no_listener_name_asks_for_one(
    home: Path, fake_spotify: FakeSpotify, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_spotify.consenting_users.append("name with spaces")
    code, out = run(capsys, "auth", "--listener", "--port", "0")
    assert code == 2 and "auth --listener NAME" in out[-1]
    assert list((home / "data" / "spotify_tokens").iterdir()) == []
    assert listener_keys(home) == []


@pytest.mark.parametrize(
    "options",
    [(), ("--delete-plays", "--yes"), ("--delete-plays",)],
    ids=["plain", "delete-plays-yes", "delete-plays-asks"],
)
def test_removing_an_unknown_listener_fails_the_same_with_or_without_delete_plays(
    home: Path, fake_spotify: FakeSpotify, capsys: pytest.CaptureFixture[str], options: tuple[str, ...]
) -> None:
    fake_spotify.consenting_users.append(BOB)
    assert run(capsys, "auth", "--listener", "bob", "--port", "0")[0] == 0
    before = sorted(path.name for path in (home / "data").rglob("*"))
    result = subprocess.run(
        [SPOTIFY_ASSETS, "listeners", "--remove", "alice", *options],
        cwd=home, env=dict(os.environ), capture_output=True, text=True, timeout=120, input="y\n",
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "Cannot remove 'alice': no listener named 'alice' (known: bob)", lines
    assert not [line for line in lines if "?" in line], (
        "nothing to confirm for a listener that does not exist"
    )
    assert listener_keys(home) == ["bob"]
    assert sorted(path.name for path in (home / "data").rglob("*")) == before


def test_a_listener_removed_before_is_known_by_their_plays_in_the_lake(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    day = home / "data" / "lake" / "raw" / "recently_played" / "listener=alice" / "extraction_date=2025-06-01"
    day.mkdir(parents=True)
    (day / "recently_played.json").write_text('{"items": []}')
    code, out = run(capsys, "listeners", "--remove", "alice")
    assert code == 0, out
    assert out[0] == "Removed listener alice: it was not registered, it had no token file.", out
    assert (day / "recently_played.json").exists(), "without --delete-plays the lake is not touched"
