"""The one settings object: defaults, overrides and clear errors."""

import os
from datetime import date

import pytest

from spotify_assets.contracts.settings import PROJECT_DIR_VARIABLE, Settings, get_settings


def test_defaults_are_the_embedded_stack():
    settings = Settings.from_mapping({})
    assert settings.lake_dir == "./data/lake" and not settings.uses_s3
    assert settings.uses_embedded_postgres and settings.embedded_pg_dir == "./data/postgres"
    assert settings.partitions_start_date == date(2025, 1, 1)
    assert settings.partitions_timezone == "UTC"
    assert settings.resolved_source == "sample"


@pytest.mark.parametrize(
    ("env", "source"),
    [
        ({"SPOTIFY_CLIENT_ID": "id", "SPOTIFY_CLIENT_SECRET": "secret"}, "live"),
        ({"SPOTIFY_CLIENT_ID": "id"}, "sample"),
        ({"SPOTIFY_CLIENT_ID": "id", "SPOTIFY_CLIENT_SECRET": "s", "SPOTIFY_SOURCE": "sample"}, "sample"),
        ({"SPOTIFY_SOURCE": "live"}, "live"),
    ],
)
def test_auto_source(env, source):
    assert Settings.from_mapping(env).resolved_source == source


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LAKE_FORMAT": "xlsx"}, "LAKE_FORMAT"),
        ({"PARTITIONS_START_DATE": "01/01/2020"}, "PARTITIONS_START_DATE"),
        ({"CAPTURE_CRON": "every 15 minutes"}, "CAPTURE_CRON"),
        ({"DAILY_CRON": "30 0 * *"}, "DAILY_CRON"),
    ],
)
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_mapping(env)


def test_bad_source_names_the_variable():
    with pytest.raises(ValueError, match="SPOTIFY_SOURCE"):
        _ = Settings.from_mapping({"SPOTIFY_SOURCE": "cloud"}).resolved_source


def test_secrets_are_not_in_repr():
    settings = Settings.from_mapping({"SPOTIFY_CLIENT_SECRET": "s3cr3t", "DB_PASSWORD": "pw-123"})
    assert "s3cr3t" not in repr(settings) and "pw-123" not in repr(settings)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with a `.env`, the working directory a folder below it; the settings cache and the
    variables `.env` loads are cleared around the test."""
    folder = tmp_path / "project"
    (folder / "deep" / "below").mkdir(parents=True)
    (folder / ".env").write_text(
        '# comment\nexport S3_BUCKET_NAME="my-bucket"\nDB_HOST=db.example\nDB_PASSWORD=pa$$word\n'
        "LAKE_DIR=./lake\nSPOTIFY_TOKEN_DIR=tokens\nHISTORY_DIR=/exports\n\nBROKEN LINE\n"
    )
    for name in Settings.variables():  # unset now, and unset again afterwards (whatever `.env` loads)
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("DB_PORT", "6543")  # the environment wins over .env
    monkeypatch.chdir(folder / "deep" / "below")
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


def test_dotenv_is_read_from_the_project_folder_and_paths_resolved_there(project):
    settings = get_settings()
    assert settings.uses_s3 and settings.s3_bucket_name == "my-bucket" and settings.db_host == "db.example"
    assert settings.db_port == 6543
    assert settings.db_password is not None and settings.db_password.get_secret_value() == "pa$$word"
    assert settings.project_dir == project.resolve()
    assert settings.lake_dir == str(project.resolve() / "lake")
    assert settings.spotify_token_dir == str(project.resolve() / "tokens")
    assert settings.embedded_pg_dir == str(project.resolve() / "data" / "postgres")
    assert settings.history_dir == "/exports"  # absolute: as given
    assert os.environ[PROJECT_DIR_VARIABLE] == str(project.resolve())  # what child processes inherit


def test_every_bad_value_is_named_at_once():
    with pytest.raises(ValueError) as error:
        Settings.from_mapping({"MAX_CONCURRENT_RUNS": "0", "RUN_WORKERS_ON_THIS_HOST": "maybe"})
    assert str(error.value) == (
        "MAX_CONCURRENT_RUNS must be a whole number of at least 1, not '0'; "
        "RUN_WORKERS_ON_THIS_HOST must be true or false, not 'maybe'"
    )


def test_the_variables_are_the_fields_aliases():
    variables = Settings.variables()
    assert len(variables) == len(Settings.model_fields) == len(set(variables))
    assert {"LAKE_DIR", "DB_PASSWORD", "DAGSTER_PG_SCHEMA", PROJECT_DIR_VARIABLE} <= set(variables)


@pytest.mark.parametrize("port", ["abc", "0", "70000", "54 32"])
def test_a_bad_db_port_names_the_variable(port):
    with pytest.raises(ValueError, match=rf"DB_PORT must be a port number .* not '{port}'"):
        Settings.from_mapping({"DB_HOST": "db.example", "DB_PORT": port})


def test_db_port_is_read_with_db_host_and_ignored_by_the_embedded_server():
    assert Settings.from_mapping({"DB_HOST": "db.example", "DB_PORT": "6543"}).db_port == 6543
    assert Settings.from_mapping({"DB_HOST": "db.example"}).db_port == 5432
    embedded = Settings.from_mapping({"DB_PORT": "abc"})  # the embedded server listens on a socket only
    assert embedded.uses_embedded_postgres and embedded.db_port == 5432


def _summary(defs) -> dict[str, object]:
    """What two sets of definitions must not share: partitions, schedules and resources' settings."""
    graph = defs.resolve_asset_graph()
    partitions = {graph.get(key).partitions_def for key in graph.get_all_asset_keys()}
    (daily,) = partitions  # one partitions definition for every asset
    schedules = {s.name: (s.cron_schedule, s.execution_timezone) for s in defs.schedules}
    jobs = {job.name: job.partitions_def for job in defs.jobs}
    resources = defs.resources
    return {
        "timezone": daily.timezone,
        "first_key": daily.get_first_partition_key(),
        "schedules": schedules,
        "jobs": {name: (p.timezone, p.get_first_partition_key()) for name, p in jobs.items()},
        "spotify_timezone": resources["spotify"].timezone,
        "spotify_source": resources["spotify"].source,
        "lake_dir": resources["lake"].local_dir,
        "pg_dir": resources["postgres"].embedded_dir,
        "history": resources["history"].folder,
    }


def _expected(timezone, first_key, crons, source, folder, history=None) -> dict[str, object]:
    daily_cron, capture_cron = crons
    return {
        "timezone": timezone,
        "first_key": first_key,
        "schedules": {
            "medallion_daily_schedule": (daily_cron, timezone),
            "raw_capture_intraday_schedule": (capture_cron, timezone),
        },
        "jobs": {"medallion_daily": (timezone, first_key), "raw_capture": (timezone, first_key)},
        "spotify_timezone": timezone,
        "spotify_source": source,
        "lake_dir": str(folder / "lake"),
        "pg_dir": str(folder / "pg"),
        "history": history,
    }


def test_definitions_follow_the_settings_they_are_built_from(tmp_path):
    from spotify_assets.definitions import build_definitions

    utc = Settings(
        partitions_start_date=date(2025, 1, 1),
        lake_dir=str(tmp_path / "a" / "lake"),
        embedded_pg_dir=str(tmp_path / "a" / "pg"),
        spotify_source="sample",
    )
    paris = Settings(
        partitions_start_date=date(2024, 6, 1),
        partitions_timezone="Europe/Paris",
        capture_cron="*/5 * * * *",
        daily_cron="15 1 * * *",
        lake_dir=str(tmp_path / "b" / "lake"),
        embedded_pg_dir=str(tmp_path / "b" / "pg"),
        spotify_source="live",
        history_dir="exports",
    )
    first = build_definitions(utc)
    before = _summary(first)
    second = _summary(build_definitions(paris))
    assert before == _expected("UTC", "2025-01-01", ("30 0 * * *", "*/15 * * * *"), "sample", tmp_path / "a")
    assert second == _expected(
        "Europe/Paris", "2024-06-01", ("15 1 * * *", "*/5 * * * *"), "live", tmp_path / "b", "exports"
    )
    assert _summary(first) == before  # building the second changed nothing of the first


def test_no_secret_is_resource_config(tmp_path):
    """Secrets reach resources at run time from the environment, never as config the UI would show."""
    from spotify_assets.definitions import build_definitions

    secrets = Settings.from_mapping(
        {
            "SPOTIFY_CLIENT_ID": "id",
            "SPOTIFY_CLIENT_SECRET": "client-secret-value",
            "SPOTIFY_REFRESH_TOKEN": "refresh-token-value",
            "DB_HOST": "db.example",
            "DB_PASSWORD": "db-password-value",
            "LAKE_DIR": str(tmp_path / "lake"),
        }
    )
    defs = build_definitions(secrets)
    config = repr({key: resource for key, resource in defs.resources.items()})
    for secret in ("client-secret-value", "refresh-token-value", "db-password-value"):
        assert secret not in config


def test_a_run_never_rereads_the_environment(tmp_path, clean_warehouse, monkeypatch):
    """docs/configuration.md, "Read once, one time zone": what a run does follows the settings the definitions
    were built from, even when the environment says otherwise by the time the run starts."""
    import json
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    import dagster as dg

    from spotify_assets.contracts.settings import get_settings
    from spotify_assets.definitions import build_definitions
    from spotify_assets_tests.helpers import make_settings

    built = make_settings(tmp_path, clean_warehouse, partitions_timezone="Asia/Kolkata")
    defs = build_definitions(built)
    for name, value in {
        "LAKE_DIR": str(tmp_path / "elsewhere"),
        "PARTITIONS_TIMEZONE": "America/New_York",
        "SPOTIFY_SOURCE": "live",  # with no credentials: a run that re-read it would fail
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()

    day = date(2025, 3, 14)
    raw = [a for a in defs.assets if a.keys == {dg.AssetKey(["raw", "recently_played"])}]
    try:
        result = dg.materialize(raw, resources=defs.resources, partition_key=day.isoformat())
    finally:
        get_settings.cache_clear()  # nothing read from this test's environment outlives it

    assert result.success
    assert not (tmp_path / "elsewhere").exists()
    stored = tmp_path / "lake" / "raw" / "recently_played" / f"extraction_date={day}" / "recently_played.json"
    items = json.loads(stored.read_text())["items"]
    assert items
    start = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo("Asia/Kolkata"))
    played = [datetime.fromisoformat(item["played_at"].replace("Z", "+00:00")) for item in items]
    assert all(start <= moment < start + timedelta(days=1) for moment in played)


# A process of the project (`spotify-assets`, `dagster dev`, a code server) reads the settings, then starts
# another one (a run worker) whose working directory may differ: it prints its own lake and the child's.
STARTS_A_CHILD_ELSEWHERE = """
import subprocess, sys
from spotify_assets.contracts.settings import get_settings
print(get_settings().lake_dir)
child = "from spotify_assets.contracts.settings import get_settings; print(get_settings().lake_dir)"
subprocess.run([sys.executable, "-c", child], cwd=sys.argv[1], check=True)
"""


@pytest.mark.slow
def test_a_process_started_in_another_working_directory_uses_the_same_lake(tmp_path):
    """docs/configuration.md, "The project folder": relative paths are the project's, not each process's."""
    import subprocess
    import sys

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    (project / ".env").write_text("LAKE_DIR=./data/lake\n")
    env = {name: value for name, value in os.environ.items() if name not in Settings.variables()}

    def lakes(cwd) -> list[str]:
        script = ["-c", STARTS_A_CHILD_ELSEWHERE, str(elsewhere)]
        done = subprocess.run(
            [sys.executable, *script], cwd=cwd, env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.split()

    lake = str(project.resolve() / "data" / "lake")
    assert lakes(project) == [lake, lake]
    assert lakes(project / "sub") == [lake, lake]  # `.env` is found from a folder below it too
    alone = str(elsewhere.resolve() / "data" / "lake")
    assert lakes(elsewhere) == [alone, alone]  # no project: the working directory
