"""The lake: raw JSON and silver/gold tables as Hive-style objects in a local folder or an S3 bucket."""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from botocore.exceptions import ClientError
from dagster_aws.s3 import S3Resource
from pydantic import Field, PrivateAttr

from spotify_assets.export_formats import STORED_KINDS
from spotify_assets.tables import ARROW_TYPES, BATCH_ROWS, TableSpec, conform, to_arrow_partitions
from spotify_assets.text import utf8

FILE_FORMATS = ("parquet", "csv")
PARTITION_COLUMN = "extraction_date"
_PARTITION_KEY = re.compile(r"\d{4}-\d{2}-\d{2}")
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
_JSON_LIST: dict[str, Any] = {"ensure_ascii": False, "separators": (",", ":")}
# Pinned so that the same frame always gives the same bytes (pyarrow writes no timestamps; its created_by
# string names the pyarrow version, so bytes are stable for one installed version).
_PARQUET_OPTIONS: dict[str, Any] = {
    "version": "2.6",
    "compression": "snappy",
    "use_dictionary": True,
    "write_statistics": True,
    "store_schema": True,
    "data_page_version": "1.0",
}


@runtime_checkable
class JsonDocument(Protocol):
    """A raw payload that encodes itself: a large partition held compactly rather than as Python objects.

    `to_json_bytes` returns the compact UTF-8 JSON to store (what `json.loads` reads back).
    """

    def to_json_bytes(self) -> bytes: ...


class LakeObjectError(ValueError):
    """A stored lake object that cannot be read as what it should hold; the message names its uri and day."""


class MissingPartitionError(FileNotFoundError):
    """A partition object that a read needs is not in the lake."""


def missing_partition_error(uri: str, asset_path: Sequence[str], partition_key: str) -> MissingPartitionError:
    """The error for an absent partition object: names the uri and the partition to materialize first."""
    asset = "/".join(asset_path)
    return MissingPartitionError(
        f"{uri} does not exist: materialize {asset} for partition {partition_key} first"
    )


class LakeResource(dg.ConfigurableResource):
    """Where the lake lives: a local folder (default) or an S3 bucket (when `bucket` is set).

    Objects use Hive-style keys that any engine reads as one table, for example
    `raw/recently_played/extraction_date=2026-11-27/recently_played.json` and
    `silver/plays/extraction_date=2026-11-27/plays.parquet`. Uris are `s3://<bucket>/<prefix>/<key>` on S3 and
    `file://<absolute path>` (percent-encoded, `=` kept) locally. Local writes go to a temporary file in the
    same folder and are moved into place, so a crash never leaves half an object; S3 writes are single PUTs.
    S3 credentials come from the standard AWS chain (AWS_* variables, profiles, instance roles); they are
    never part of this resource's config. In CSV, `text[]` columns hold JSON arrays (`["a","b"]`, with null
    elements as `null`); a null list is an empty field, an empty list is `[]`.

    Example:
        ```python
        lake = LakeResource(bucket="my-spotify-lake", prefix="prod", region_name="eu-west-1")
        lake.uri("silver/plays/extraction_date=2026-11-27/plays.parquet")
        # 's3://my-spotify-lake/prod/silver/plays/extraction_date=2026-11-27/plays.parquet'
        ```
    """

    local_dir: str = Field(
        default="./data/lake", description="Lake folder when no bucket is set (relative to the working dir)."
    )
    bucket: str | None = Field(default=None, description="S3 bucket; when set, the lake is on S3.")
    prefix: str = Field(default="", description="Key prefix inside the bucket, e.g. `prod` (S3 only).")
    endpoint_url: str | None = Field(
        default=None, description="S3 endpoint for S3-compatible stores (MinIO, moto); default AWS."
    )
    region_name: str | None = Field(default=None, description="AWS region; default from the AWS chain.")
    file_format: str = Field(default="parquet", description="Silver/gold object format: `parquet` or `csv`.")

    _s3_client: Any = PrivateAttr(default=None)

    def uri(self, key: str) -> str:
        """Where `key` lives: `s3://bucket/prefix/key` or `file:///absolute/path/key`."""
        _check_key(key)
        if self.bucket:
            return f"s3://{self.bucket}/{self._object_key(key)}"
        return "file://" + quote(self._local_path(key).as_posix(), safe="/=")

    def write_bytes(self, key: str, data: bytes) -> None:
        """Store `data` at `key`, replacing any object there (atomically)."""
        _check_key(key)
        if self.bucket:
            self._client().put_object(Bucket=self.bucket, Key=self._object_key(key), Body=data)
            return
        path = self._local_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)

    def read_bytes(self, key: str) -> bytes | None:
        """The object at `key`, or None when there is none."""
        _check_key(key)
        if self.bucket:
            try:
                response = self._client().get_object(Bucket=self.bucket, Key=self._object_key(key))
            except ClientError as error:
                if _is_not_found(error):
                    return None
                raise
            return response["Body"].read()
        try:
            return self._local_path(key).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, key: str) -> bool:
        """Whether an object is stored at `key`."""
        _check_key(key)
        if self.bucket:
            try:
                self._client().head_object(Bucket=self.bucket, Key=self._object_key(key))
            except ClientError as error:
                if _is_not_found(error):
                    return False
                raise
            return True
        return self._local_path(key).is_file()

    def list_keys(self, prefix: str = "") -> list[str]:
        """Sorted keys (relative to the lake root) that start with `prefix`; hidden local files excluded."""
        if self.bucket:
            paginator = self._client().get_paginator("list_objects_v2")
            root = self._object_key("")
            pages = paginator.paginate(Bucket=self.bucket, Prefix=root + prefix)
            return sorted(o["Key"][len(root) :] for page in pages for o in page.get("Contents", []))
        base = Path(self.local_dir).resolve()
        start = base / prefix.rpartition("/")[0]
        if not start.is_dir():
            return []
        keys = (p.relative_to(base).as_posix() for p in start.rglob("*") if p.is_file())
        return sorted(k for k in keys if k.startswith(prefix) and not k.rpartition("/")[2].startswith("."))

    def partition_path(self, asset_path: Sequence[str], partition_key: str, filename: str) -> str:
        """`<layer>/<table>/extraction_date=<YYYY-MM-DD>/<filename>`: one daily partition's object key."""
        if not _PARTITION_KEY.fullmatch(partition_key):
            raise ValueError(f"partition key must be YYYY-MM-DD, not {partition_key!r}")
        key = "/".join([*asset_path, f"{PARTITION_COLUMN}={partition_key}", filename])
        _check_key(key)
        return key

    def table_path(self, asset_path: Sequence[str], partition_key: str) -> str:
        """The key of a table's partition object: `<table>.parquet` or `<table>.csv`."""
        return self.partition_path(asset_path, partition_key, f"{asset_path[-1]}.{self._format()}")

    def write_table_partitions(
        self, asset_path: Sequence[str], frames: Mapping[str, pd.DataFrame], spec: TableSpec
    ) -> list[str]:
        """Write one object per partition key; returns their uris, in the order of `frames`."""
        encode = _encode_parquet if self._format() == "parquet" else _encode_csv
        # Check and encode everything first: a frame that does not fit fails before any object changes.
        for partition_key, frame in frames.items():
            _check_partition_column(asset_path, partition_key, frame, spec)
        encoded = {key: encode(table, spec) for key, table in to_arrow_partitions(frames, spec)}
        uris = []
        for partition_key, data in encoded.items():
            key = self.table_path(asset_path, partition_key)
            self.write_bytes(key, data)
            uris.append(self.uri(key))
        return uris

    def read_table_partitions(
        self, asset_path: Sequence[str], partition_keys: Sequence[str], spec: TableSpec
    ) -> dict[str, pd.DataFrame]:
        """Read each partition's object as a frame conformed to `spec`; a missing one raises.

        Objects are decoded one by one and turned into frames in `tables.batches` (one conversion for many
        small daily partitions).
        """
        decode = _decode_parquet if self._format() == "parquet" else _decode_csv
        frames: dict[str, pd.DataFrame] = {}
        pending: dict[str, pa.Table] = {}
        uris: dict[str, str] = {}
        for partition_key in partition_keys:
            key = self.table_path(asset_path, partition_key)
            uris[partition_key] = uri = self.uri(key)
            data = self.read_object(key, partition_key)
            if data is None:
                raise missing_partition_error(uri, asset_path, partition_key)
            try:  # any failure (flipped bytes raise OSError from the codec, say) names the object
                table = decode(data, spec)
                _check_required_columns(table, spec)
            except Exception as error:
                raise LakeObjectError(
                    f"{uri} is not a valid {self.file_format} table (partition {partition_key}): "
                    f"{type(error).__name__}: {error}"
                ) from error
            pending[partition_key] = table
            if sum(table.num_rows for table in pending.values()) >= BATCH_ROWS:
                frames.update(_to_named_frames(pending, spec, uris))
                pending = {}
        frames.update(_to_named_frames(pending, spec, uris))
        return frames

    def write_json_partitions(
        self, asset_path: Sequence[str], filename: str, payloads: Mapping[str, Any]
    ) -> list[str]:
        """Write each payload as compact UTF-8 JSON, keys in their original order; returns the uris."""
        # Plain payloads are all encoded before the first write, so one that cannot be encoded changes
        # nothing; a JsonDocument (valid by construction) is encoded just before its write, to bound memory.
        encoded = {
            key: payload if isinstance(payload, JsonDocument) else _encode_json(payload)
            for key, payload in payloads.items()
        }
        uris = []
        for partition_key, data in encoded.items():
            key = self.partition_path(asset_path, partition_key, filename)
            self.write_bytes(key, data.to_json_bytes() if isinstance(data, JsonDocument) else data)
            uris.append(self.uri(key))
        return uris

    def read_json_partition(self, asset_path: Sequence[str], filename: str, partition_key: str) -> Any | None:
        """The JSON stored for one partition, or None when there is none; malformed JSON raises ValueError."""
        key = self.partition_path(asset_path, partition_key, filename)
        data = self.read_object(key, partition_key)
        return None if data is None else self.decode_json(data, key, partition_key)

    def decode_json(self, data: bytes, key: str, partition_key: str) -> Any:
        """A raw partition object's bytes (stored at `key`) as JSON; a wrong one raises naming it."""
        try:
            payload = json.loads(data.decode("utf-8"))
        except ValueError as error:
            raise LakeObjectError(
                f"{self.uri(key)} is not valid UTF-8 JSON (partition {partition_key}): {error}"
            ) from error
        problem = raw_shape_problem(payload, RAW_LIST_FIELDS.get(key.split("/")[1], ("items",)))
        if problem:
            raise LakeObjectError(
                f"{self.uri(key)} is not a raw partition object (partition {partition_key}): {problem}"
            )
        return payload

    def read_object(self, key: str, partition_key: str) -> bytes | None:
        """`read_bytes`, with any failure (permissions, a folder in the object's place) naming the object."""
        try:
            return self.read_bytes(key)
        except Exception as error:
            raise LakeObjectError(
                f"{self.uri(key)} cannot be read (partition {partition_key}): {type(error).__name__}: {error}"
            ) from error

    def _format(self) -> str:
        if self.file_format not in FILE_FORMATS:
            raise ValueError(f"file_format must be parquet or csv, not {self.file_format!r}")
        return self.file_format

    def _object_key(self, key: str) -> str:
        prefix = self.prefix.strip("/")
        return f"{prefix}/{key}" if prefix else key

    def _local_path(self, key: str) -> Path:
        return Path(self.local_dir).resolve() / key

    def _client(self) -> Any:
        if self._s3_client is None:
            resource = S3Resource(endpoint_url=self.endpoint_url, region_name=self.region_name)
            self._s3_client = resource.get_client()
        return self._s3_client


RAW_LIST_FIELDS: dict[str, tuple[str, ...]] = {
    "recently_played": ("items",),
    "streaming_history": STORED_KINDS,
}
"""The fields of a raw asset's partition object that must be lists when present, by the asset's name."""


def raw_shape_problem(payload: Any, list_fields: Sequence[str] = ("items",)) -> str | None:
    """What is wrong with the shape of a raw partition object, or None: it must be a JSON object, and its
    `list_fields` lists. Odd items inside the lists are silver's to exclude or count, not errors here."""
    if not isinstance(payload, dict):
        return f"expected a JSON object, found {type(payload).__name__} {_excerpt(payload)}"
    for name in list_fields:
        value = payload.get(name, [])
        if not isinstance(value, list):
            return f"{name!r} must be a list, found {type(value).__name__} {_excerpt(value)}"
    return None


def _excerpt(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_required_columns(table: pa.Table, spec: TableSpec) -> None:
    """Columns that may not be null must be in the object: read as all null, they would fail far later."""
    missing = [c.name for c in spec.columns if not c.nullable and c.name not in table.column_names]
    if missing:
        raise ValueError(f"missing non-null columns {missing}")


def _check_key(key: str) -> None:
    parts = key.split("/")
    if key.startswith("/") or "\\" in key or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"invalid lake key {key!r}: use relative 'a/b/c' keys without '.', '..' or '//'")


def _check_partition_column(
    asset_path: Sequence[str], partition_key: str, frame: pd.DataFrame, spec: TableSpec
) -> None:
    """Rows stored under `extraction_date=D` must say D, or engines reading the Hive path would disagree."""
    if spec.partition_column != PARTITION_COLUMN or PARTITION_COLUMN not in frame.columns:
        return
    expected = date.fromisoformat(partition_key)
    found = set(pd.to_datetime(frame[PARTITION_COLUMN]).dt.date.dropna()) - {expected}
    if found or frame[PARTITION_COLUMN].isna().any():
        others = sorted(d.isoformat() for d in found)
        raise ValueError(
            f"{'/'.join(asset_path)} partition {partition_key}: rows must have {PARTITION_COLUMN} = "
            f"{partition_key}, found {others or 'nulls'}"
        )


def _is_not_found(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _NOT_FOUND_CODES


def encode_json(payload: Any) -> bytes:
    """A raw payload as stored: compact UTF-8 JSON, keys in their order (raises for NaN and the like)."""
    return _encode_json(payload)


def _encode_json(payload: Any) -> bytes:
    text = json.dumps(
        payload, ensure_ascii=False, indent=None, separators=(",", ":"), sort_keys=False, allow_nan=False
    )
    return utf8(text)  # a lone surrogate (valid JSON, not UTF-8) is stored as U+FFFD


def _list_columns(spec: TableSpec) -> list[str]:
    return [c.name for c in spec.columns if c.pg_type == "text[]"]


def _encode_parquet(table: pa.Table, spec: TableSpec) -> bytes:
    # Without pandas' metadata (which names the pandas version): the spec, not pandas, defines the types.
    table = table.replace_schema_metadata(None)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **_PARQUET_OPTIONS)
    return sink.getvalue().to_pybytes()


def _decode_parquet(data: bytes, spec: TableSpec) -> pa.Table:
    return pq.read_table(pa.BufferReader(data))


def _encode_csv(table: pa.Table, spec: TableSpec) -> bytes:
    for name in _list_columns(spec):
        values = [None if v is None else json.dumps(v, **_JSON_LIST) for v in table[name].to_pylist()]
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values, pa.string()))
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=True))
    return sink.getvalue().to_pybytes()


def _decode_csv(data: bytes, spec: TableSpec) -> pa.Table:
    lists = set(_list_columns(spec))
    types = {c.name: pa.string() if c.name in lists else ARROW_TYPES[c.pg_type] for c in spec.columns}
    table = pacsv.read_csv(
        pa.BufferReader(data),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["true"],
            false_values=["false"],
        ),
    )
    for name in lists & set(table.column_names):
        values = [None if v is None else json.loads(v) for v in table[name].to_pylist()]
        table = table.set_column(
            table.schema.get_field_index(name), name, pa.array(values, pa.list_(pa.string()))
        )
    return table


_PANDAS_TYPES = {
    pa.string(): pd.StringDtype(),
    pa.int16(): pd.Int64Dtype(),
    pa.int32(): pd.Int64Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def _to_frame(table: pa.Table, spec: TableSpec) -> pd.DataFrame:
    lists = [name for name in _list_columns(spec) if name in table.column_names]
    frame = table.drop_columns(lists).to_pandas(types_mapper=_PANDAS_TYPES.get)
    for name in lists:
        # Python lists, as the transforms produce them (to_pandas would give numpy arrays).
        frame[name] = pd.Series(_shared_lists(table[name]), index=frame.index, dtype="object")
    return conform(frame, spec)


def _shared_lists(column: pa.ChunkedArray) -> np.ndarray:
    """A list<string> column as Python lists (None where null), one list object per distinct value.

    Rows repeat a few lists (a track's artists), so a million rows get thousands of list objects, not
    millions. Rows share them: treat them as read-only, as the transforms do.
    """
    array = column.combine_chunks()
    out = np.full(len(array), None, dtype=object)
    if not len(array) or array.null_count == len(array):
        return out
    # Each list's identity: its elements' dictionary codes (-1 for a null element) joined with ",".
    offsets = array.offsets.to_numpy()
    values = array.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    codes = pc.cast(pc.dictionary_encode(values).indices.fill_null(-1), pa.string())
    keyed = pa.ListArray.from_arrays(pa.array(offsets - offsets[0], pa.int32()), codes, mask=array.is_null())
    keys = pc.dictionary_encode(pc.binary_join(keyed, ",")).indices
    valid = keys.is_valid().to_numpy(zero_copy_only=False)
    index = keys.fill_null(0).to_numpy()
    distinct, first = np.unique(index[valid], return_index=True)
    shared = np.empty(len(distinct), dtype=object)
    shared[:] = array.filter(pa.array(valid)).take(pa.array(first)).to_pylist()
    out[valid] = shared[np.searchsorted(distinct, index[valid])]
    return out


def _to_named_frames(
    tables: Mapping[str, pa.Table], spec: TableSpec, uris: Mapping[str, str]
) -> dict[str, pd.DataFrame]:
    """`_to_frames`, but a table that does not convert to the spec's types raises naming its object."""
    try:
        return _to_frames(tables, spec)
    except Exception:
        frames = {}
        for partition_key, table in tables.items():
            try:
                frames[partition_key] = _to_frame(table, spec)
            except Exception as error:
                raise LakeObjectError(
                    f"{uris[partition_key]} does not fit {spec.qualified_name} (partition {partition_key}): "
                    f"{type(error).__name__}: {error}"
                ) from error
        return frames


def _to_frames(tables: Mapping[str, pa.Table], spec: TableSpec) -> dict[str, pd.DataFrame]:
    """Each table as a conformed frame: converted together when their schemas agree, then split."""
    if len(tables) < 2:
        return {key: _to_frame(table, spec) for key, table in tables.items()}
    try:
        combined = pa.concat_tables(list(tables.values()))
    except pa.ArrowInvalid:  # objects written under different schemas (an older spec): one by one
        return {key: _to_frame(table, spec) for key, table in tables.items()}
    frame = _to_frame(combined, spec)
    bounds = np.cumsum([0, *(table.num_rows for table in tables.values())]).tolist()
    return {
        key: frame.iloc[start:end].reset_index(drop=True)
        for key, start, end in zip(tables, bounds[:-1], bounds[1:], strict=True)
    }
