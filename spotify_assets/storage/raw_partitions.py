"""Raw inputs as mappings read as they are looked up: one object a day (`JsonPartitions`), or every
listener's object a day (`ListenerJsonPartitions`); and a household's raw output split into each listener's
objects (`write_by_listener`)."""

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import dagster as dg

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


class JsonPartitions(Mapping[str, Any]):
    """A raw input's partitions, each read and parsed when looked up (and not kept); an absent one is None.

    For inputs that may be large (years of exported history) or may not exist (no export imported): a run
    over a long range then holds one day's JSON at a time.
    """

    def __init__(self, lake: LakeResource, asset_path: Sequence[str], partition_keys: Sequence[str]) -> None:
        filename = raw_filename(asset_path)
        if filename is None:
            raise TypeError(f"{'/'.join(asset_path)}: only raw (JSON) assets load as JsonPartitions")
        self._lake, self._path, self._filename = lake, list(asset_path), filename
        self._keys = list(partition_keys)

    def __getitem__(self, partition_key: str) -> Any | None:
        if partition_key not in self._keys:
            raise KeyError(partition_key)
        return self._lake.read_json_partition(self._path, self._filename, partition_key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class ListenerJsonPartitions(Mapping[str, ListenerPayloads]):
    """A raw input's partitions with every listener's object: day -> `ListenerPayloads` of the listeners
    that have one, read when looked up. The asset's keys are listed once; unless `optional`, a day that no
    listener has fails here, naming the default listener's object."""

    def __init__(
        self, lake: LakeResource, asset_path: Sequence[str], partition_keys: Sequence[str], optional: bool
    ) -> None:
        self._lake, self._path, self._keys = lake, list(asset_path), list(partition_keys)
        self._filename = raw_filename(asset_path) or ""
        self._stored = set(lake.list_keys("/".join(self._path) + "/"))
        self.listeners = [DEFAULT_LISTENER, *listeners_in_keys(self._path, self._stored)]
        if not optional:
            for day in self._keys:
                if not self.listeners_on(day):
                    key = self._object_key(DEFAULT_LISTENER, day)
                    raise missing_partition_error(lake.uri(key), self._path, day)

    def _object_key(self, listener: str, day: str) -> str:
        return self._lake.partition_path(listener_asset_path(self._path, listener), day, self._filename)

    def listeners_on(self, day: str) -> list[str]:
        """The listeners with an object on `day`."""
        return [name for name in self.listeners if self._object_key(name, day) in self._stored]

    def payload(self, day: str, listener: str) -> Any | None:
        """`listener`'s object of `day`, or None when they have none."""
        if day not in self._keys:
            raise KeyError(day)
        if self._object_key(listener, day) not in self._stored:
            return None
        return self._lake.read_json_partition(listener_asset_path(self._path, listener), self._filename, day)

    def __getitem__(self, partition_key: str) -> ListenerPayloads:
        return ListenerPayloads(
            {name: self.payload(partition_key, name) for name in self.listeners_on(partition_key)}
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)
