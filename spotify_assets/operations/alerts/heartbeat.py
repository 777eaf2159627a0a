"""HEARTBEAT_URL: requested after every successful capture, so an outside monitor (healthchecks.io, Uptime
Kuma, cronitor) notices when nothing runs at all. A failed request is logged, never fails the capture.

The URL is a secret (it lets anyone report in): the hook's resource takes it as `dg.EnvVar("HEARTBEAT_URL")`,
which the run resolves from its environment."""

# No `from __future__ import annotations`: Dagster reads the hook's annotations at runtime.

from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from spotify_assets.assets.raw import RAW_RECENTLY_PLAYED

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

TIMEOUT_SECONDS = 10
RUN_ID_HEADER = "X-Dagster-Run-Id"
CAPTURE_STEP = RAW_RECENTLY_PLAYED.to_python_identifier()
HEARTBEAT_RESOURCE = "heartbeat_target"


class HeartbeatTarget(dg.ConfigurableResource):
    """Where the heartbeat goes."""

    url: str = Field(description="dg.EnvVar('HEARTBEAT_URL')")


@dg.success_hook(name="heartbeat", required_resource_keys={HEARTBEAT_RESOURCE})
def heartbeat(context: dg.HookContext) -> None:
    """GET HEARTBEAT_URL once the capture step has stored its plays (its checks' steps send nothing)."""
    if context.op.name != CAPTURE_STEP:
        return
    url = getattr(context.resources, HEARTBEAT_RESOURCE).url
    import requests  # only when a heartbeat goes out: see LAZY_IMPORTS

    try:
        response = requests.get(url, timeout=TIMEOUT_SECONDS, headers={RUN_ID_HEADER: context.run_id})
    except requests.RequestException as error:  # its text may hold the URL, a secret
        context.log.warning(f"heartbeat not delivered: {type(error).__name__}")
        return
    if not response.ok:
        context.log.warning(f"heartbeat not delivered: HTTP {response.status_code}")


def with_heartbeat(job: "UnresolvedAssetJobDefinition") -> "UnresolvedAssetJobDefinition":
    """`job` with the heartbeat hook on its steps."""
    return dg.define_asset_job(
        job.name,
        selection=job.selection,
        partitions_def=job.partitions_def,
        description=job.description,
        tags=job.tags,
        hooks={heartbeat, *(job.hooks or ())},
    )
