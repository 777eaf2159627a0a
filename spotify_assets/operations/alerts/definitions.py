"""What the alert settings add to the Definitions: the alert sensor and its channels (only when a channel is
configured), and the heartbeat hook on the capture job and its target (only when HEARTBEAT_URL is set)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from spotify_assets.contracts.settings import Settings
from spotify_assets.operations.alerts.channels import AlertChannels
from spotify_assets.operations.alerts.heartbeat import HEARTBEAT_RESOURCE, HeartbeatTarget, with_heartbeat
from spotify_assets.operations.alerts.sensor import build_alert_sensor

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


def alert_definitions(
    settings: Settings, checks: Sequence[dg.AssetChecksDefinition]
) -> tuple[list[dg.SensorDefinition], dict[str, Any]]:
    """The alert sensor and its `alert_channels` resource (none of either without a channel), and the
    heartbeat's target when HEARTBEAT_URL is set."""
    sensors: list[dg.SensorDefinition] = []
    resources: dict[str, Any] = {}
    if settings.alerts.has_heartbeat:
        resources[HEARTBEAT_RESOURCE] = HeartbeatTarget(url=dg.EnvVar("HEARTBEAT_URL"))
    if settings.alerts.configured:
        sensors.append(build_alert_sensor(settings, checks))
        resources["alert_channels"] = AlertChannels.from_settings(settings.alerts)
    return sensors, resources


def capture_job_with_heartbeat(
    job: UnresolvedAssetJobDefinition, settings: Settings
) -> UnresolvedAssetJobDefinition:
    """The capture job, with the heartbeat hook when HEARTBEAT_URL is set."""
    return with_heartbeat(job) if settings.alerts.has_heartbeat else job
