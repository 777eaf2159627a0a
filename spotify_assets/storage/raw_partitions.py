"""Raw inputs as `DayBatches` read a day at a time: one object a day (`json_partitions`), or every listener's
object a day (`listener_json_partitions`); and a household's raw output split into each listener's objects
(`write_by_listener`)."""

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import dagster as dg

from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.listener_scope import (
    DEFAULT_LISTENER,
    ListenerPayloads,
    listener_asset_path,
    listeners_in_keys,
)
from spotify_assets.storage.asset_metadata import raw_partition_metadata
from spotify_assets.storage.lake import LakeResource, missing_partition_error

RAW_LAYER = "raw"


def asset_path(asset_key: dg.AssetKey | Sequence[str]) -> list[str]:
    """An asset key (or its path) as a list of its parts."""
    return list(asset_key.path if isinstance(asset_key, dg.AssetKey) else asset_key)


def raw_filename(asset_key: dg.AssetKey | Sequence[str]) -> str | None:
    """`<name>.json` for a raw asset `["raw", name]`; None for table assets."""
    path = asset_path(asset_key)
    return f"{path[-1]}.json" if path[0] == RAW_LAYER else None


def write_by_listener(
    lake: LakeResource,
    path: list[str],
    filename: str,
    outputs: dict[str, Any],
    write_raw: Callable[[LakeResource, list[str], str, dict[str, Any]], list[str]],
    uri_metadata: Callable[[Sequence[str]], dict[str, Any]],
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Write each listener's partitions to that listener's objects (`listener_scope.listener_asset_path`)
    with `write_raw` (the lake IO manager's merge under locks).

    Metadata: totals over listeners, and per partition `dagster/partition_row_count` (all listeners' items)
    and `listener_row_counts` (items by listener)."""
    by_listener: dict[str, dict[str, Any]] = {}
    for day, payloads in outputs.items():
        if not isinstance(payloads, ListenerPayloads):
            raise TypeError(f"{'/'.join(path)} {day}: every partition must be ListenerPayloads, or none")
        for listener, payload in payloads.items():
            by_listener.setdefault(listener, {})[day] = payload
    uris: list[str] = []
    counts: dict[str, dict[str, int]] = {}
    for listener, payloads in sorted(by_listener.items()):
        uris += write_raw(lake, listener_asset_path(path, listener), filename, payloads)
        per_day = raw_partition_metadata(payloads)
        counts[listener] = {day: entry["dagster/partition_row_count"] for day, entry in per_day.items()}
    per_partition: dict[str, dict[str, Any]] = {}
    for day in outputs:
        of_day = {listener: days[day] for listener, days in counts.items() if day in days}
        if of_day:
            per_partition[day] = {"dagster/partition_row_count": sum(of_day.values())}
            if list(counts) != [DEFAULT_LISTENER]:
                per_partition[day]["listener_row_counts"] = dg.MetadataValue.json(of_day)
    metadata = uri_metadata(uris) if uris else {"lake_object_count": 0}
    if per_partition:
        metadata["dagster/row_count"] = sum(m["dagster/partition_row_count"] for m in per_partition.values())
    return metadata, per_partition


def json_partitions(
    lake: LakeResource, asset_path: Sequence[str], partition_keys: Sequence[str]
) -> DayBatches:
    """A raw asset's partitions, each read and parsed when looked up, a day at a time; an absent one is None.

    For inputs that may be large (years of exported history) or may not exist (no export imported): a run
    over a long range then holds one day's JSON at a time.
    """
    filename = raw_filename(asset_path)
    if filename is None:
        raise TypeError(f"{'/'.join(asset_path)}: only raw (JSON) assets load as JSON partitions")
    path = list(asset_path)
    return DayBatches(
        partition_keys,
        lambda days: {day: lake.read_json_partition(path, filename, day) for day in days},
        batch_days=1,
    )


class ListenerObjects(Mapping[str, Any]):
    """One raw partition's objects of every listener that has one: listener -> payload, read when looked up
    (and not kept), so a household's day holds one listener's JSON at a time."""

    def __init__(self, listeners: Sequence[str], read: Callable[[str], Any]) -> None:
        self._listeners, self._read = list(listeners), read

    def __getitem__(self, listener: str) -> Any:
        if listener not in self._listeners:
            raise KeyError(listener)
        return self._read(listener)

    def __iter__(self) -> Iterator[str]:
        return iter(self._listeners)

    def __len__(self) -> int:
        return len(self._listeners)


def listener_json_partitions(
    lake: LakeResource, asset_path: Sequence[str], partition_keys: Sequence[str], optional: bool
) -> DayBatches:
    """A raw input's partitions with every listener's object: day -> `ListenerObjects` of the listeners that
    have one, a day at a time. The asset's keys are listed once; unless `optional`, a day that no listener has
    fails here, naming the default listener's object."""
    path, filename = list(asset_path), raw_filename(asset_path) or ""
    stored = set(lake.list_keys("/".join(path) + "/"))
    listeners = [DEFAULT_LISTENER, *listeners_in_keys(path, stored)]

    def object_key(listener: str, day: str) -> str:
        return lake.partition_path(listener_asset_path(path, listener), day, filename)

    def objects_of(day: str) -> ListenerObjects:
        return ListenerObjects(
            [name for name in listeners if object_key(name, day) in stored],
            lambda name: lake.read_json_partition(listener_asset_path(path, name), filename, day),
        )

    if not optional:
        for day in partition_keys:
            if not objects_of(day):
                raise missing_partition_error(lake.uri(object_key(DEFAULT_LISTENER, day)), path, day)
    return DayBatches(partition_keys, lambda days: {day: objects_of(day) for day in days}, batch_days=1)
