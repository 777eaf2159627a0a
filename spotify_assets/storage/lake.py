"""The lake's object store: raw JSON and silver/gold tables as Hive-style objects in a folder or an S3 bucket.

Keys, atomic writes, reads that name the object when it is missing or wrong; the bytes of each format are
`lake_formats`'.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import dagster as dg
from pydantic import Field, PrivateAttr

from spotify_assets.contracts import json_codec
from spotify_assets.contracts.tables import BATCH_ROWS, TableSpec
from spotify_assets.storage.object_formats import (
    FILE_FORMATS,
    RAW_LIST_FIELDS,
    JsonDocument,
    encode_json,
    raw_shape_problem,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from botocore.exceptions import ClientError

    from spotify_assets.contracts.table_frames import DayFrames

PARTITION_COLUMN = "extraction_date"
_PARTITION_KEY = re.compile(r"\d{4}-\d{2}-\d{2}")
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}


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
    _root: str | None = PrivateAttr(default=None)

    def uri(self, key: str) -> str:
        """Where `key` lives: `s3://bucket/prefix/key` or `file:///absolute/path/key`."""
        _check_key(key)
        if self.bucket:
            return f"s3://{self.bucket}/{self._object_key(key)}"
        return "file://" + quote(self._local_file(key), safe="/=")

    def write_bytes(self, key: str, data: bytes) -> None:
        """Store `data` at `key`, replacing any object there (atomically)."""
        self.write_objects({key: data})

    def write_objects(self, objects: Mapping[str, bytes]) -> None:
        """Store each `{key: data}`, replacing what is there; each object atomically.

        Locally every object is written to a temporary file first; then the files are synced (one `syncfs` of
        their file system on Linux, a sync per file elsewhere) and moved into place, one after the other.
        """
        for key in objects:
            _check_key(key)
        if self.bucket:
            for key, data in objects.items():
                self._client().put_object(Bucket=self.bucket, Key=self._object_key(key), Body=data)
            return
        written: list[tuple[int, str, str]] = []
        try:
            for key, data in objects.items():
                path = self._local_file(key)
                folder, name = os.path.split(path)
                os.makedirs(folder, exist_ok=True)
                temp = os.path.join(folder, f".{name}.{uuid.uuid4().hex}.tmp")
                written.append((os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temp, path))
                view = memoryview(data)
                while view:
                    view = view[os.write(written[-1][0], view) :]
            _sync(fd for fd, _, _ in written)
            for fd, temp, path in written:
                os.close(fd)
                os.replace(temp, path)
        finally:
            for fd, temp, _ in written:
                with contextlib.suppress(OSError):
                    os.close(fd)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)

    def read_bytes(self, key: str) -> bytes | None:
        """The object at `key`, or None when there is none."""
        _check_key(key)
        if self.bucket:
            from botocore.exceptions import ClientError  # S3 only: see _client

            try:
                response = self._client().get_object(Bucket=self.bucket, Key=self._object_key(key))
            except ClientError as error:
                if _is_not_found(error):
                    return None
                raise
            return response["Body"].read()
        try:
            with open(self._local_file(key), "rb") as file:
                return file.read()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        """Remove the object at `key` (nothing happens when there is none)."""
        _check_key(key)
        if self.bucket:
            self._client().delete_object(Bucket=self.bucket, Key=self._object_key(key))
            return
        with contextlib.suppress(FileNotFoundError):
            self._local_path(key).unlink()

    def exists(self, key: str) -> bool:
        """Whether an object is stored at `key`."""
        _check_key(key)
        if self.bucket:
            from botocore.exceptions import ClientError  # S3 only: see _client

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
        """Write one object per partition key; returns their uris, in the order of `frames`.

        The frames become one Arrow table (kept by the `DayFrames`, for the warehouse's COPY to use too), and
        each day's object is encoded from its slice.
        """
        from spotify_assets.contracts.table_frames import DayFrames  # tables: see LAZY_IMPORTS
        from spotify_assets.storage.lake_formats import encode_days

        file_format = self._format()
        days = DayFrames.of(frames, spec)
        # Check and encode everything first: a frame that does not fit fails before any object changes.
        _check_partition_column(asset_path, days, spec)
        encoded = encode_days(days, spec, file_format)
        self.write_objects({self.table_path(asset_path, key): data for key, data in encoded.items()})
        return [self.uri(self.table_path(asset_path, key)) for key in frames]

    def read_table_partitions(
        self, asset_path: Sequence[str], partition_keys: Sequence[str], spec: TableSpec
    ) -> DayFrames:
        """Read each partition's object as a frame conformed to `spec`; a missing one raises.

        Objects are decoded one by one and turned into one frame per `BATCH_ROWS` rows (one conversion for
        many small daily partitions), held as a `DayFrames` that slices a day's frame when it is looked up.
        """
        import pandas as pd  # tables: see LAZY_IMPORTS

        from spotify_assets.contracts.table_frames import DayFrames
        from spotify_assets.storage.lake_formats import decode_table

        file_format = self._format()
        chunks: list[DayFrames] = []
        pending: dict[str, pa.Table] = {}

        def uri(partition_key: str) -> str:  # for errors only: a long range reads tens of thousands
            return self.uri(self.table_path(asset_path, partition_key))

        for partition_key in partition_keys:
            key = self.table_path(asset_path, partition_key)
            data = self.read_object(key, partition_key)
            if data is None:
                raise missing_partition_error(uri(partition_key), asset_path, partition_key)
            try:  # any failure (flipped bytes raise OSError from the codec, say) names the object
                table = decode_table(data, spec, file_format)
            except Exception as error:
                where = f"{uri(partition_key)} is not a valid {self.file_format} table"
                raise LakeObjectError(
                    f"{where} (partition {partition_key}): {type(error).__name__}: {error}"
                ) from error
            pending[partition_key] = table
            if sum(table.num_rows for table in pending.values()) >= BATCH_ROWS:
                chunks.append(_to_named_frames(pending, spec, uri))
                pending = {}
        if pending or not chunks:
            chunks.append(_to_named_frames(pending, spec, uri))
        if len(chunks) == 1:
            return chunks[0]
        if list(partition_keys) == sorted(partition_keys):  # the chunks' frames, conformed, one after another
            whole = pd.concat([chunk.whole for chunk in chunks], ignore_index=True)
            return DayFrames(whole, {key: n for chunk in chunks for key, n in chunk.counts.items()})
        return DayFrames.of({key: chunk[key] for chunk in chunks for key in chunk}, spec)

    def write_json_partitions(
        self, asset_path: Sequence[str], filename: str, payloads: Mapping[str, Any]
    ) -> list[str]:
        """Write each payload as compact UTF-8 JSON, keys in their original order; returns the uris."""
        # Plain payloads are all encoded before the first write, so one that cannot be encoded changes
        # nothing; a JsonDocument (valid by construction) is encoded just before its write, to bound memory.
        encoded = {
            key: payload if isinstance(payload, JsonDocument) else encode_json(payload)
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
            payload = json_codec.loads(data)
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
        return Path(self._local_file(key))

    def _local_file(self, key: str) -> str:
        if self._root is None:  # resolved once: a long range asks for tens of thousands of paths
            self._root = Path(self.local_dir).resolve().as_posix()
        return f"{self._root}/{key}"  # a checked key: relative, "/"-separated, no "." or ".." parts

    def _client(self) -> Any:
        if self._s3_client is None:
            # dagster-aws and boto are imported only for a lake on S3: they are about a second of every
            # process's start-up (the CLI, `dagster dev`, each run), which a local lake does not need.
            from dagster_aws.s3 import S3Resource

            resource = S3Resource(endpoint_url=self.endpoint_url, region_name=self.region_name)
            self._s3_client = resource.get_client()
        return self._s3_client


def _sync(fds: Iterable[int]) -> None:
    """The written files' data on disk: one `syncfs` of their file system on Linux (one journal commit for a
    batch of days, where a sync per file is one each), else a sync per file."""
    fds = list(fds)
    if fds and _SYNCFS is not None and _SYNCFS(fds[0]) == 0:
        return
    for fd in fds:
        os.fsync(fd)


def _libc_syncfs() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError):
        return None


_SYNCFS = _libc_syncfs() if sys.platform.startswith("linux") else None


def _check_key(key: str) -> None:
    parts = key.split("/")
    if key.startswith("/") or "\\" in key or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"invalid lake key {key!r}: use relative 'a/b/c' keys without '.', '..' or '//'")


def _check_partition_column(asset_path: Sequence[str], days: DayFrames, spec: TableSpec) -> None:
    """Rows stored under `extraction_date=D` must say D, or engines reading the Hive path would disagree."""
    import pandas as pd  # tables: see LAZY_IMPORTS

    if spec.partition_column != PARTITION_COLUMN or PARTITION_COLUMN not in days.whole.columns:
        return
    stored = pd.to_datetime(days.whole[PARTITION_COLUMN]).dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
    wrong = stored != days.row_days()  # a null compares unequal too
    if not wrong.any():
        return
    partition_key = str(days.row_days()[wrong.argmax()])
    frame = days[partition_key]
    found = set(pd.to_datetime(frame[PARTITION_COLUMN]).dt.date.dropna()) - {
        date.fromisoformat(partition_key)
    }
    others = sorted(d.isoformat() for d in found)
    raise ValueError(
        f"{'/'.join(asset_path)} partition {partition_key}: rows must have {PARTITION_COLUMN} = "
        f"{partition_key}, found {others or 'nulls'}"
    )


def _is_not_found(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _NOT_FOUND_CODES


def _to_named_frames(tables: Mapping[str, pa.Table], spec: TableSpec, uri: Callable[[str], str]) -> DayFrames:
    """`to_frames`, but a table that does not convert to the spec's types raises naming its object."""
    from spotify_assets.contracts.table_frames import DayFrames  # tables: see LAZY_IMPORTS
    from spotify_assets.storage.lake_formats import to_frame, to_frames

    try:
        return to_frames(tables, spec)
    except Exception:
        frames = {}
        for partition_key, table in tables.items():
            try:
                frames[partition_key] = to_frame(table, spec)
            except Exception as error:
                raise LakeObjectError(
                    f"{uri(partition_key)} does not fit {spec.qualified_name} (partition {partition_key}): "
                    f"{type(error).__name__}: {error}"
                ) from error
        return DayFrames.of(frames, spec)
