"""Containers cannot run here: the files in deploy/ are checked against what the topology tests run."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pytest
import yaml

from spotify_assets.contracts.settings import Settings
from spotify_assets.operations.instance_config import instance_config
from spotify_assets.operations.topology import DEFINITIONS_MODULE, WORKSPACE, Topology

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
# The compose file's addresses: the code server listens on every interface of its container, and the
# webserver and the daemon reach it by its service name.
COMPOSE_TOPOLOGY = Topology(
    code_bind_host="0.0.0.0", code_host="code", web_host="0.0.0.0", workspace=WORKSPACE
)
COMPOSE_SERVICES = {"code-server": "code", "webserver": "webserver", "daemon": "daemon"}
OTHER_VARIABLES = re.compile(r"^(AWS_[A-Z_]+|DAGSTER_HOME|DAGSTER_CODE_SERVER_(HOST|PORT)|POSTGRES_[A-Z_]+)$")


def _settings_variables() -> set[str]:
    """Every environment variable the settings read (their fields' aliases)."""
    return set(Settings.variables())


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())


def _image_env() -> dict[str, str]:
    """The Dockerfile's ENV values (`ENV A=1 \\ B=2`)."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    pairs = [
        re.findall(r"([A-Z_][A-Z0-9_]*)=(\S+)", line[4:])
        for line in text.splitlines()
        if line.startswith("ENV ")
    ]
    return {name: value for line in pairs for name, value in line}


def _token_paths(env: dict[str, str]) -> list[PurePosixPath]:
    """The token file's folder and the listeners' token folder (absolute: nothing relative persists): where
    `spotify-assets auth [--listener NAME]` writes, and where runs write back a rotated refresh token."""
    paths = [PurePosixPath(env["SPOTIFY_TOKEN_FILE"]).parent, PurePosixPath(env["SPOTIFY_TOKEN_DIR"])]
    assert all(path.is_absolute() for path in paths), paths
    return paths


def _on_a_mount(path: PurePosixPath, mounts: list[str]) -> bool:
    return any(path == PurePosixPath(mount) or PurePosixPath(mount) in path.parents for mount in mounts)


@pytest.mark.parametrize(("role", "service"), COMPOSE_SERVICES.items())
def test_compose_runs_the_tested_commands(role, service):
    assert _compose()["services"][service]["command"] == COMPOSE_TOPOLOGY.commands()[role]


def test_compose_points_the_workspace_at_the_code_server():
    environment = _compose()["x-app"]["environment"]
    assert {key: environment[key] for key in COMPOSE_TOPOLOGY.env()} == COMPOSE_TOPOLOGY.env()
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    server = workspace["load_from"][0]["grpc_server"]
    assert server["host"] == {"env": "DAGSTER_CODE_SERVER_HOST"}
    assert server["port"] == {"env": "DAGSTER_CODE_SERVER_PORT"}


def test_every_variable_in_deploy_is_one_the_project_reads():
    known = _settings_variables()
    assert {"DB_HOST", "MAX_CONCURRENT_RUNS", "CAPTURE_CRON", "DAGSTER_STORAGE"} <= known
    example = [line.split("=", 1)[0] for line in (DEPLOY / ".env.example").read_text().splitlines()]
    names = {name.lstrip("# ").strip() for name in example if re.match(r"^#? ?[A-Z][A-Z0-9_]+$", name)}
    names |= set(_compose()["x-app"]["environment"])
    unknown = {name for name in names if name not in known and not OTHER_VARIABLES.match(name)}
    assert not unknown


def test_the_image_writes_the_instance_config_the_tests_use_and_reaps_zombies():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    entrypoint = re.search(r"^ENTRYPOINT (.+)$", dockerfile, re.MULTILINE).group(1)
    assert yaml.safe_load(entrypoint) == ["tini", "--", "/app/deploy/entrypoint.sh"]
    script = (DEPLOY / "entrypoint.sh").read_text().splitlines()
    # The topology tests write dagster.yaml with this same command before starting the processes.
    assert "spotify-assets instance" in script and script[-1] == 'exec "$@"'
    # Containers: the daemon cannot see the code container's processes, so no local health check there.
    assert "RUN_WORKERS_ON_THIS_HOST=false" in dockerfile


def test_helm_values_match_the_tested_instance_config():
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    tested = instance_config(Settings())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", DEFINITIONS_MODULE]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["postgresqlParams"]["options"] == f"-csearch_path={Settings().dagster_schema}"
    runs, pools = values["concurrency"]["runs"], values["concurrency"]["pools"]
    assert runs["maxConcurrentRuns"] == tested["concurrency"]["runs"]["max_concurrent_runs"]
    assert runs["tagConcurrencyLimits"] == tested["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {"granularity": pools["granularity"], "default_limit": pools["defaultLimit"]} == tested[
        "concurrency"
    ]["pools"]
    monitoring = values["dagsterDaemon"]["runMonitoring"]
    expected = tested["run_monitoring"]
    assert monitoring == {
        "enabled": expected["enabled"],
        "startTimeoutSeconds": expected["start_timeout_seconds"],
        "maxRuntimeSeconds": expected["max_runtime_seconds"],
        "pollIntervalSeconds": expected["poll_interval_seconds"],
        "maxResumeRunAttempts": expected["max_resume_run_attempts"],
    }


def test_helm_values_retry_what_the_tested_instance_config_retries():
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    tested = instance_config(Settings())
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] and coordinator["type"] == "CustomRunCoordinator"
    custom = coordinator["config"]["customRunCoordinator"]
    assert {key: custom[key] for key in ("module", "class", "config")} == tested["run_coordinator"]
    retries = values["dagsterDaemon"]["runRetries"]
    assert {
        "enabled": retries["enabled"],
        "max_retries": retries["maxRetries"],
        "retry_on_asset_or_op_failure": retries["retryOnAssetOrOpFailure"],
    } == tested["run_retries"]


def test_compose_starts_the_webserver_and_daemon_once_the_code_server_answers():
    services = _compose()["services"]
    code = services[COMPOSE_SERVICES["code-server"]]
    # The command `spotify-assets serve` waits for, as the tested topology spells it for compose.
    assert code["healthcheck"]["test"] == ["CMD", *COMPOSE_TOPOLOGY.health_check_command()]
    for role in ("webserver", "daemon"):
        depends_on = services[COMPOSE_SERVICES[role]]["depends_on"]
        assert depends_on == {"code": {"condition": "service_healthy"}}, role


def test_the_token_files_live_on_a_volume_of_the_containers_that_run_the_runs():
    compose = _compose()
    env = {**_image_env(), **compose["x-app"]["environment"]}
    # Runs (and `docker compose exec code spotify-assets auth --listener NAME`) execute in the code container.
    service = compose["services"][COMPOSE_SERVICES["code-server"]]
    named = {
        target: source
        for source, target, *_ in (volume.split(":") for volume in service["volumes"])
        if source in compose["volumes"]
    }
    for path in _token_paths(env):
        assert _on_a_mount(path, list(named)), f"{path} is on no named volume of the code service"
    # Private to the owner, whatever mode the volume comes up with.
    script = (DEPLOY / "entrypoint.sh").read_text()
    assert 'chmod 700 "$(dirname "$SPOTIFY_TOKEN_FILE")" "$SPOTIFY_TOKEN_DIR"' in script


def test_helm_mounts_the_token_files_on_a_shared_claim_in_the_code_server_and_its_run_pods():
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    env = {**_image_env(), **deployment["env"]}
    claims = {
        volume["name"]
        for volume in deployment["volumes"]
        if volume.get("persistentVolumeClaim", {}).get("claimName")
    }
    mounts = [mount["mountPath"] for mount in deployment["volumeMounts"] if mount["name"] in claims]
    for path in _token_paths(env):
        assert _on_a_mount(path, mounts), f"{path} is on no persistent volume claim of the user deployment"
    # The run pods (K8sRunLauncher) take the deployment's volumes, mounts and environment.
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
