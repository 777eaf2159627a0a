"""The lake IO manager: partitioned outputs, as `DayBatches` of `{partition key: payload}`, to and from the
lake."""

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional

import dagster as dg

from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.listener_scope import ListenerPayloads
from spotify_assets.contracts.raw_merge import RAW_MERGES
from spotify_assets.contracts.tables import TableSpec, table_of_asset
from spotify_assets.storage.asset_metadata import (
    column_schema,
    previewed_partitions,
    raw_partition_metadata,
    record_output_metadata,
    table_partition_metadata,
)
from spotify_assets.storage.lake import LakeResource, missing_partition_error
from spotify_assets.storage.object_formats import JsonDocument, encode_json
from spotify_assets.storage.postgres import PostgresResource
from spotify_assets.storage.raw_lock import lock_groups, partition_locks
from spotify_assets.storage.raw_partitions import (
    RAW_LAYER,
    asset_path,
    json_partitions,
    listener_json_partitions,
    raw_filename,
    write_by_listener,
)

if TYPE_CHECKING:
    import pandas as pd

    from spotify_assets.contracts.table_frames import DayFrames

# AssetIn metadata making a raw input lazy and optional: `AssetIn(key, metadata={OPTIONAL_LAZY_INPUT: True})`.
OPTIONAL_LAZY_INPUT = "lake/optional_lazy_partitions"
# AssetIn metadata making a raw input read every listener's objects: each day a `ListenerPayloads`.
BY_LISTENER = "lake/by_listener"
# AssetIn metadata making a table input read only some columns: `AssetIn(key, metadata={COLUMNS: [...]})`.
COLUMNS = "lake/columns"


def _item_count(payloads: Mapping[str, Any]) -> int | None:
    items = [p.get("items") if isinstance(p, Mapping) else None for p in payloads.values()]
    lists = [i for i in items if isinstance(i, list)]
    if len(lists) != len(items):
        return None
    return sum(len(i) for i in lists)


def _uri_metadata(uris: Sequence[str]) -> dict[str, Any]:
    if len(uris) == 1:
        return {"lake_uri": uris[0], "lake_object_count": 1}
    return {"lake_uri": f"{uris[0]} .. {uris[-1]}", "lake_object_count": len(uris)}


def write_asset_output(
    lake: LakeResource,
    asset_key: dg.AssetKey | Sequence[str],
    outputs: DayBatches,
    postgres: PostgresResource | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Write `{partition key: payload}` for one asset; returns the output's metadata and each partition's.

    Tables are written a batch at a time (see `TableBatchWriter`). Each
    partition's own metadata is `dagster/partition_row_count` and, for tables, a Markdown `preview` (of the
    last 31 partitions only, in a longer range: `asset_metadata.previewed_partitions`).
    A raw partition of `raw_merge.RAW_MERGES` is read again and united with what is stored under its month's
    lock (`raw_lock`: PostgreSQL advisory locks when `postgres` is given), so concurrent runs lose nothing.
    """
    path = asset_path(asset_key)
    filename = raw_filename(path)
    if filename is None:
        writer = TableBatchWriter(lake, path, list(outputs))
        for _ in writer.write(outputs.batches()):
            pass
        return writer.metadata(), writer.partition_metadata
    ordered = dict(sorted(outputs.items()))
    if any(isinstance(payload, ListenerPayloads) for payload in ordered.values()):
        return write_by_listener(
            lake,
            path,
            filename,
            ordered,
            lambda lake, path, filename, payloads: _write_raw(lake, path, filename, payloads, postgres),
            _uri_metadata,
        )
    uris = _write_raw(lake, path, filename, ordered, postgres)
    metadata = _uri_metadata(uris)
    if (count := _item_count(ordered)) is not None:
        metadata["dagster/row_count"] = count
    per_partition = raw_partition_metadata(ordered)
    for partition_key, uri in zip(ordered, uris, strict=True):
        per_partition.setdefault(partition_key, {})["lake_uri"] = uri
    return metadata, per_partition


def _write_raw(
    lake: LakeResource,
    path: list[str],
    filename: str,
    payloads: dict[str, Any],
    postgres: PostgresResource | None,
) -> list[str]:
    merge = RAW_MERGES.get(filename.removesuffix(".json")) if path[0] == RAW_LAYER else None
    if merge is None:
        return lake.write_json_partitions(path, filename, payloads)
    return _write_merged(lake, path, filename, payloads, merge, postgres)


def _write_merged(
    lake: LakeResource,
    path: list[str],
    filename: str,
    payloads: dict[str, Any],
    merge: Callable[[Any, Any], Any],
    postgres: PostgresResource | None,
) -> list[str]:
    """Write the partitions a month at a time under that month's lock (`raw_lock`): read what is stored,
    unite, write the month's changed objects together; `payloads` gets the result.

    An object that already holds exactly the payload's bytes (a re-run that found nothing new) is neither
    decoded nor written again.
    """
    for payload in payloads.values():  # one that cannot be encoded fails before any partition changes
        if not isinstance(payload, JsonDocument):
            encode_json(payload)
    keys = {day: lake.partition_path(path, day, filename) for day in payloads}
    with partition_locks(postgres) as hold:
        for days in lock_groups(payloads):
            with hold(path, days):
                changed = {}
                for day in days:
                    key, data = keys[day], _encoded(payloads[day])
                    stored = lake.read_object(key, day)
                    if stored == data:
                        continue
                    merged = merge(
                        None if stored is None else lake.decode_json(stored, key, day), payloads[day]
                    )
                    if merged is not payloads[day]:
                        payloads[day], data = merged, _encoded(merged)
                    if stored != data:
                        changed[key] = data
                lake.write_objects(changed)
    return [lake.uri(key) for key in keys.values()]


def _encoded(payload: Any) -> bytes:
    return payload.to_json_bytes() if isinstance(payload, JsonDocument) else encode_json(payload)


class TableBatchWriter:
    """Writes a table asset's partitions to the lake batch by batch, keeping what its metadata needs.

    `write(batches)` yields each batch after its objects are stored, so a caller can load the same frames
    into the warehouse without holding more than one batch. A batch whose frames do not fit the spec fails
    before any of its objects changes; batches written before it stay written (a re-run rewrites them).
    """

    def __init__(
        self, lake: LakeResource, asset_path: Sequence[str], partition_keys: Collection[str] | None = None
    ) -> None:
        self._lake, self._path, self._spec = lake, list(asset_path), table_of_asset(asset_path)
        # Previews for the output's last month of partitions only (all when they are not given).
        self._previewed = None if partition_keys is None else previewed_partitions(partition_keys)
        self.uris: list[str] = []
        self.rows = 0
        self.partition_metadata: dict[str, dict[str, Any]] = {}

    def write(self, batches: Iterable[Mapping[str, "pd.DataFrame"]]) -> Iterator["DayFrames"]:
        """Store each batch's objects, then yield the batch (in partition key order, as one `DayFrames` whose
        Arrow table the warehouse's COPY takes as it is)."""
        import pandas as pd  # tables: see LAZY_IMPORTS

        from spotify_assets.contracts.table_frames import DayFrames

        for batch in batches:
            if not isinstance(batch, DayFrames):
                for partition_key, frame in batch.items():
                    if not isinstance(frame, pd.DataFrame):
                        raise TypeError(
                            f"{'/'.join(self._path)} {partition_key}: expected a DataFrame, "
                            f"not {type(frame).__name__}"
                        )
            ordered = DayFrames.of(batch, self._spec)
            uris = self._lake.write_table_partitions(self._path, ordered, self._spec)
            self.uris += uris
            self.rows += len(ordered.whole)
            for (partition_key, values), uri in zip(
                table_partition_metadata(ordered, self._spec, self._previewed).items(), uris, strict=True
            ):
                self.partition_metadata[partition_key] = {**values, "lake_uri": uri}
            yield ordered

    def metadata(self) -> dict[str, Any]:
        """`lake_uri`, `lake_object_count`, `dagster/row_count` (rows written) and the column schema."""
        metadata: dict[str, Any] = _uri_metadata(self.uris) if self.uris else {"lake_object_count": 0}
        metadata["dagster/row_count"] = self.rows
        metadata["dagster/column_schema"] = dg.MetadataValue.table_schema(column_schema(self._spec))
        return metadata


def read_asset_input(
    lake: LakeResource,
    asset_key: dg.AssetKey | Sequence[str],
    partition_keys: Sequence[str],
    columns: Collection[str] | None = None,
) -> DayBatches:
    """`{partition key: payload}` of one asset for `partition_keys`, read as it is looked up: tables a batch
    of days at a time (with `columns`, only those columns), raw JSON a day at a time. A missing partition
    raises here, before anything is read."""
    path = asset_path(asset_key)
    filename = raw_filename(path)
    check_partitions_exist(lake, path, partition_keys, filename)
    if filename is not None:
        return json_partitions(lake, path, partition_keys)
    return _table_input(lake, path, partition_keys, table_of_asset(path), columns)


def _table_input(
    lake: LakeResource,
    path: list[str],
    partition_keys: Sequence[str],
    table: TableSpec,
    columns: Collection[str] | None,
) -> DayBatches:
    """A table's partitions, read a batch of days at a time (only `columns`, when given); its `select`
    reads only the columns it names."""
    spec = table if columns is None else table.projected(columns)
    return DayBatches(
        partition_keys,
        lambda keys: lake.read_table_partitions(path, keys, spec),
        select=lambda names: _table_input(lake, path, partition_keys, table, names),
    )


EXISTS_ONE_BY_ONE = 8
"""Up to this many partitions are looked up object by object; more take one listing of the asset's keys."""


def check_partitions_exist(
    lake: LakeResource, asset_path: Sequence[str], partition_keys: Sequence[str], filename: str | None
) -> None:
    """Raise `MissingPartitionError` for the first of `partition_keys` whose object is not in the lake."""
    path = list(asset_path)

    def object_key(partition_key: str) -> str:
        if filename is None:
            return lake.table_path(path, partition_key)
        return lake.partition_path(path, partition_key, filename)

    if len(partition_keys) <= EXISTS_ONE_BY_ONE:
        missing = [key for key in partition_keys if not lake.exists(object_key(key))]
    else:
        stored = set(lake.list_keys("/".join(path) + "/"))
        missing = [key for key in partition_keys if object_key(key) not in stored]
    if missing:
        first = sorted(missing)[0]
        raise missing_partition_error(lake.uri(object_key(first)), path, first)


class LakeIOManager(dg.ConfigurableIOManager):
    """Stores daily-partitioned assets in the lake: raw assets as JSON, silver/gold assets as tables.

    An asset returns a `DayBatches` of each of its run's partition keys to that partition's payload (a frame
    conformed to `tables.TABLES["<layer>.<table>"]`, or the JSON object of a `["raw", name]` asset), so one
    run can write a whole range (single-run backfills): `DayBatches.of(payloads)` for payloads in memory, or
    for long ranges one built a month at a time. Inputs are `DayBatches` too, read as they are looked up
    (tables a month at a time, raw JSON a day at a time); a missing upstream partition fails the load. A
    table input whose `AssetIn` metadata names `COLUMNS` reads only those columns of the objects.
    Metadata: on each partition's event, its `dagster/partition_row_count`, its `lake_uri` and, for tables,
    a Markdown `preview` of its first rows (in a range of more than 31 partitions, on the last 31); totals
    over the run's partitions, `dagster/row_count` (rows, or raw `items`), `lake_uri` (`first .. last` for a
    range), `lake_object_count`, and `dagster/column_schema` for tables: for one partition on its event, for
    a range on the last partition's event as `range/<name>`.

    Example:
        ```python
        defs = dg.Definitions(
            assets=[raw_recently_played, silver_plays],
            resources={"io_manager": LakeIOManager(lake=LakeResource(local_dir="./data/lake"))},
        )
        ```
    """

    # A real (not postponed) annotation: Dagster inspects it at runtime, so no `from __future__` here.
    lake: dg.ResourceDependency[LakeResource]
    # Holds the raw partitions' locks (advisory locks every process reaches); unset: this process only.
    postgres: Optional[PostgresResource] = None  # noqa: UP045 (Dagster reads the annotation at runtime)

    def handle_output(self, context: dg.OutputContext, obj: DayBatches) -> None:
        """Write every partition of the output and record where it went."""
        check_output_partitions(context.asset_key, obj, context_partition_keys(context))
        metadata, per_partition = write_asset_output(self.lake, context.asset_key, obj, self.postgres)
        record_output_metadata(context, metadata, per_partition)

    def table_writer(self, asset_key: dg.AssetKey, partition_keys: Collection[str]) -> TableBatchWriter:
        """A writer of a table asset's partitions, batch by batch: `writer.write(batches)` stores each batch's
        objects and then yields the batch, for a caller that loads the same frames elsewhere too (the
        lakehouse IO manager, into the warehouse); `writer.metadata()` and `writer.partition_metadata` are
        then the lake's output and per-partition metadata."""
        return TableBatchWriter(self.lake, asset_key.path, partition_keys)

    def load_input(self, context: dg.InputContext) -> DayBatches:
        """The upstream partitions this input covers, as partition key -> payload, read as looked up.

        A missing partition raises, unless the input's AssetIn metadata sets `OPTIONAL_LAZY_INPUT`: then
        absent days read as None. A table input whose metadata sets `COLUMNS` gets frames of those columns
        only (each of the table's type), read from the objects alone.
        """
        partition_keys = context_partition_keys(context)
        metadata = context.definition_metadata or {}
        optional = bool(metadata.get(OPTIONAL_LAZY_INPUT))
        if metadata.get(BY_LISTENER):
            return listener_json_partitions(
                self.lake, asset_path(context.asset_key), partition_keys, optional
            )
        if optional:
            return json_partitions(self.lake, asset_path(context.asset_key), partition_keys)
        columns = metadata.get(COLUMNS)
        return read_asset_input(
            self.lake, context.asset_key, partition_keys, None if columns is None else list(columns)
        )


def context_partition_keys(context: dg.OutputContext | dg.InputContext) -> list[str]:
    """The asset partition keys an output writes or an input reads (one, or a range)."""
    if not context.has_asset_partitions:
        asset = context.asset_key.to_user_string()
        raise TypeError(f"{asset}: the lake IO managers store partitioned assets only")
    return list(context.asset_partition_keys)


def check_output_partitions(asset_key: dg.AssetKey, obj: object, partition_keys: Sequence[str]) -> None:
    """Raise unless `obj` is a `DayBatches` holding exactly the run's partition keys."""
    asset = asset_key.to_user_string()
    if not isinstance(obj, DayBatches):
        raise TypeError(
            f"{asset}: return a DayBatches of partition key -> payload (DayBatches.of(payloads) for payloads "
            f"in memory), not {type(obj).__name__}"
        )
    if set(obj) != set(partition_keys):
        raise ValueError(
            f"{asset}: returned partitions {sorted(obj)} but the run materializes {sorted(partition_keys)}"
        )
