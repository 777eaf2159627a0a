"""The lake on a local folder and on S3 (moto over HTTP): paths, table and JSON round trips, IO manager."""

import json
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from dagster_aws.s3 import S3Resource

from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.table_frames import DayFrames, arrow_schema, conform, empty_frame, to_arrow
from spotify_assets.contracts.tables import PLAYS, TABLES, TableSpec
from spotify_assets.storage import lake as lake_module
from spotify_assets.storage import lake_formats
from spotify_assets.storage.lake import LakeResource, MissingPartitionError
from spotify_assets.storage.lake_io import COLUMNS, LakeIOManager, read_asset_input, write_asset_output
from spotify_assets_tests.lake_frames import DAY, plays_frame

LakeFactory = Callable[..., LakeResource]
FORMATS = ["parquet", "csv"]
TEXT = [
    "plain",
    'say "hi", then\nnew line\r\nand, commas',
    "ünïcødé 🎵 日本語 — Sigur Rós",
    "NULL",
    "",
    "N/A",
]
VALUES: dict[str, list[Any]] = {
    "text": TEXT,
    "bigint": [2**53 + 1, -1, 0, 180_000, None, 7],
    "integer": [1, -(2**31), 2**31 - 1, 0, None, 3],
    "smallint": [1, -(2**15), 2**15 - 1, 0, None, 3],
    "boolean": [True, False, None, True, False, None],
    "timestamptz": [
        "2026-11-27T00:00:00.000Z",
        "2026-11-27T23:59:59.999Z",
        "1999-12-31T23:59:59.001Z",
        None,
        "2026-11-27T12:34:56.789Z",
        "2017-06-01T08:00:00.123Z",
    ],
    "date": [
        date(2026, 11, 27),
        date(1999, 12, 31),
        None,
        date(2026, 1, 1),
        date(2000, 2, 29),
        date(2026, 11, 28),
    ],
    "text[]": [["a", 'b "q", c'], [], None, ["x,y", None], ['["json"]', "ü\n\r\n"], ["NULL", "", "N/A"]],
}


def sample_frame(spec: TableSpec) -> pd.DataFrame:
    """Six rows of every column type: nulls (where allowed), unicode, quotes, commas, newlines, lists."""
    data = {}
    for column in spec.columns:
        values = list(VALUES[column.pg_type])
        if column.pg_type == "text":
            values = [f"{column.name} {v}" if i < 2 else v for i, v in enumerate(values)]
        if not column.nullable:
            values = [values[0] if v is None else v for v in values]
        if column.name == spec.partition_column:
            values = [date.fromisoformat(DAY)] * len(values)
        data[column.name] = values
    return conform(pd.DataFrame(data), spec)


def stored_objects(lake: LakeResource) -> set[str]:
    """Every object in the lake's bucket (full keys) or folder (relative paths, hidden files included)."""
    if lake.bucket:
        client = S3Resource(endpoint_url=lake.endpoint_url, region_name=lake.region_name).get_client()
        return {o["Key"] for o in client.list_objects_v2(Bucket=lake.bucket).get("Contents", [])}
    root = Path(lake.local_dir)
    return (
        {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} if root.exists() else set()
    )


def stored_key(lake: LakeResource, key: str) -> str:
    """How `key` appears in `stored_objects`."""
    return f"lake/{key}" if lake.bucket else key


@pytest.fixture(params=["local", "s3"])
def new_lake(request: pytest.FixtureRequest, tmp_path: Path) -> LakeFactory:
    """Builds lakes (any file format) on one local folder or one fresh S3 bucket."""
    if request.param == "local":
        return lambda **config: LakeResource(local_dir=str(tmp_path / "lake"), **config)
    s3_lake: LakeResource = request.getfixturevalue("s3_lake")
    base = {
        "bucket": s3_lake.bucket,
        "endpoint_url": s3_lake.endpoint_url,
        "region_name": s3_lake.region_name,
    }
    return lambda **config: LakeResource(prefix="lake", **base, **config)


# ---- tables ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("file_format", FORMATS)
@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_round_trip(new_lake: LakeFactory, file_format: str, name: str) -> None:
    spec = TABLES[name]
    lake = new_lake(file_format=file_format)
    frame = sample_frame(spec)
    [uri] = lake.write_table_partitions([spec.schema, spec.name], {DAY: frame}, spec)
    assert uri.endswith(f"/{spec.schema}/{spec.name}/extraction_date={DAY}/{spec.name}.{file_format}")
    read = lake.read_table_partitions([spec.schema, spec.name], [DAY], spec)
    pd.testing.assert_frame_equal(read[DAY], frame)
    list_columns = [c.name for c in spec.columns if c.pg_type == "text[]"]
    assert all(isinstance(v, list) for c in list_columns for v in read[DAY][c] if v is not None)
    # Read again by a process that did not write it (nothing it encoded is known): decoded, the same frame,
    # from the same Arrow table as the one kept (so a batch of kept and decoded days concatenates as one).
    data = lake.read_bytes(lake.table_path([spec.schema, spec.name], DAY))
    assert data is not None
    kept = lake_formats.decode_table(data, spec, file_format)
    lake_formats.ENCODED.clear()
    assert lake_formats.decode_table(data, spec, file_format).equals(kept, check_metadata=True)
    decoded = lake.read_table_partitions([spec.schema, spec.name], [DAY], spec)
    pd.testing.assert_frame_equal(decoded[DAY], frame)


@pytest.mark.parametrize("file_format", FORMATS)
def test_a_read_of_some_columns_gives_those_columns_as_a_whole_read_does(
    new_lake: LakeFactory, file_format: str
) -> None:
    lake = new_lake(file_format=file_format)
    frame = sample_frame(PLAYS)
    lake.write_table_partitions(["silver", "plays"], {DAY: frame}, PLAYS)
    columns = ["artist_names", "played_at", "ms_played", "explicit", "extraction_date"]
    read = lake.read_table_partitions(["silver", "plays"], [DAY], PLAYS.projected(columns))
    # In the table's order, each as the whole read types it.
    expected = frame[[name for name in PLAYS.column_names if name in columns]]
    pd.testing.assert_frame_equal(read[DAY], expected)
    with pytest.raises(ValueError, match=r"silver.plays has no columns \['nope'\]"):
        PLAYS.projected(["played_at", "nope"])


@pytest.mark.parametrize("file_format", FORMATS)
def test_all_null_and_empty_partitions_keep_types(new_lake: LakeFactory, file_format: str) -> None:
    lake = new_lake(file_format=file_format)
    first_row = sample_frame(PLAYS).iloc[:1]
    all_null = conform(
        pd.DataFrame({c.name: first_row[c.name] if not c.nullable else [None] for c in PLAYS.columns}), PLAYS
    )
    lake.write_table_partitions(["silver", "plays"], {DAY: all_null, "2026-11-28": empty_frame(PLAYS)}, PLAYS)
    read = lake.read_table_partitions(["silver", "plays"], [DAY, "2026-11-28"], PLAYS)
    pd.testing.assert_frame_equal(read[DAY], all_null)
    pd.testing.assert_frame_equal(read["2026-11-28"], empty_frame(PLAYS))
    if file_format == "parquet":
        data = lake.read_bytes(lake.table_path(["silver", "plays"], DAY))
        assert data is not None
        assert pq.read_schema(pa.BufferReader(data)).remove_metadata() == arrow_schema(PLAYS)


@pytest.mark.parametrize("file_format", FORMATS)
def test_objects_at_documented_keys(new_lake: LakeFactory, file_format: str) -> None:
    lake = new_lake(file_format=file_format)
    spec = TABLES["gold.dim_artist"]
    lake.write_json_partitions(["raw", "recently_played"], "recently_played.json", {DAY: {"items": []}})
    lake.write_table_partitions(["silver", "plays"], {DAY: plays_frame(DAY, 2)}, PLAYS)
    lake.write_table_partitions(["gold", "dim_artist"], {DAY: sample_frame(spec)}, spec)
    expected = [
        f"raw/recently_played/extraction_date={DAY}/recently_played.json",
        f"silver/plays/extraction_date={DAY}/plays.{file_format}",
        f"gold/dim_artist/extraction_date={DAY}/dim_artist.{file_format}",
    ]
    assert stored_objects(lake) == {stored_key(lake, key) for key in expected}
    assert lake.list_keys() == sorted(expected)
    assert lake.list_keys("silver/") == [expected[1]]
    assert lake.list_keys("silver/plays/extraction_date=2026-11-2") == [expected[1]]
    assert lake.list_keys("bronze/") == []
    root = f"s3://{lake.bucket}/lake/" if lake.bucket else Path(lake.local_dir).resolve().as_uri() + "/"
    assert lake.uri(expected[0]) == root + expected[0]
    assert all(lake.exists(key) for key in expected)
    assert not lake.exists("raw/recently_played/extraction_date=2026-11-28/recently_played.json")


@pytest.mark.parametrize("file_format", FORMATS)
def test_write_three_partitions_read_two(new_lake: LakeFactory, file_format: str) -> None:
    lake = new_lake(file_format=file_format)
    days = ["2026-11-25", "2026-11-26", "2026-11-27"]
    frames = {day: plays_frame(day, rows) for day, rows in zip(days, (1, 2, 3), strict=True)}
    uris = lake.write_table_partitions(["silver", "plays"], frames, PLAYS)
    assert [uri.rsplit("/", 2)[1] for uri in uris] == [f"extraction_date={day}" for day in days]
    read = lake.read_table_partitions(["silver", "plays"], ["2026-11-27", "2026-11-25"], PLAYS)
    assert list(read) == ["2026-11-27", "2026-11-25"]
    for day in read:
        pd.testing.assert_frame_equal(read[day], frames[day])


@pytest.mark.parametrize("file_format", FORMATS)
def test_a_range_read_in_several_conversions_gives_each_day_its_rows_and_types(
    new_lake: LakeFactory, file_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = new_lake(file_format=file_format)
    days = ["2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"]
    frames = {day: plays_frame(day, rows) for day, rows in zip(days, (3, 0, 2, 4), strict=True)}
    frames["2026-11-26"] = sample_frame(PLAYS).assign(extraction_date=date(2026, 11, 26))  # odd values
    lake.write_table_partitions(["silver", "plays"], frames, PLAYS)
    lake_formats.ENCODED.clear()  # decoded, as another process reads them
    monkeypatch.setattr(lake_module, "BATCH_ROWS", 2)  # a conversion every day or two
    read = lake.read_table_partitions(["silver", "plays"], days, PLAYS)
    assert list(read) == days
    assert list(read.whole.dtypes) == list(conform(frames[days[0]], PLAYS).dtypes)
    for day in days:
        pd.testing.assert_frame_equal(read[day], frames[day])


@pytest.mark.parametrize("file_format", FORMATS)
def test_rewrite_gives_identical_bytes(new_lake: LakeFactory, file_format: str) -> None:
    key = new_lake(file_format=file_format).table_path(["silver", "plays"], DAY)
    frame = sample_frame(PLAYS)
    new_lake(file_format=file_format).write_table_partitions(["silver", "plays"], {DAY: frame}, PLAYS)
    first = new_lake(file_format=file_format).read_bytes(key)
    # The same rows from a differently built frame: shuffled columns, another index, unconformed dtypes.
    shuffled = frame[list(reversed(frame.columns))].set_axis(range(10, 16)).astype(object)
    new_lake(file_format=file_format).write_table_partitions(["silver", "plays"], {DAY: shuffled}, PLAYS)
    second = new_lake(file_format=file_format).read_bytes(key)
    assert first is not None
    assert first == second


def counted_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one each time a Parquet object is decoded from its bytes."""
    decodes: list[int] = []
    parquet_file = pq.ParquetFile

    def counting(*args: Any, **kwargs: Any) -> pq.ParquetFile:
        decodes.append(1)
        return parquet_file(*args, **kwargs)

    monkeypatch.setattr(lake_formats.pq, "ParquetFile", counting)
    return decodes


def test_what_a_process_wrote_is_read_back_without_decoding_and_a_rewrite_by_another_is_decoded(
    new_lake: LakeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = new_lake()
    days = ["2026-11-25", "2026-11-26", DAY]
    frames = {day: plays_frame(day, 3) for day in days}
    lake.write_table_partitions(["silver", "plays"], frames, PLAYS)
    decodes = counted_decodes(monkeypatch)
    read = lake.read_table_partitions(["silver", "plays"], days, PLAYS)
    assert decodes == []
    for day in days:
        pd.testing.assert_frame_equal(read[day], frames[day])
    some_columns = PLAYS.projected(["played_at", "ms_played"])
    projected = lake.read_table_partitions(["silver", "plays"], days, some_columns)
    pd.testing.assert_frame_equal(projected[DAY], frames[DAY][["played_at", "ms_played"]])
    assert decodes == []
    # Another writer (pyarrow itself, not this process's encoder) replaces one day's object with other rows.
    other = plays_frame("2026-11-26", 5)
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(other, preserve_index=False), sink)
    lake.write_bytes(lake.table_path(["silver", "plays"], "2026-11-26"), sink.getvalue().to_pybytes())
    read = lake.read_table_partitions(["silver", "plays"], days, PLAYS)
    assert len(decodes) == 1
    pd.testing.assert_frame_equal(read["2026-11-26"], other)
    pd.testing.assert_frame_equal(read[DAY], frames[DAY])


def test_a_batch_encoded_on_threads_gives_each_day_the_bytes_it_gets_alone() -> None:
    days = [f"2026-11-{day:02d}" for day in range(1, 11)]
    batch = DayFrames.of({day: plays_frame(day, 3 + i % 4) for i, day in enumerate(days)}, PLAYS)
    encoded = lake_formats.encode_days(batch, PLAYS, "parquet")
    assert list(encoded) == days
    for day in days:
        alone = lake_formats.encode_table(to_arrow(batch[day], PLAYS), PLAYS, "parquet")
        assert encoded[day] == alone


def test_encoded_tables_keep_at_most_their_limit_and_let_the_least_recently_used_go() -> None:
    a, b, c = ["2026-11-25", "2026-11-26", DAY]
    tables = {day: pa.Table.from_pandas(plays_frame(day, 50), preserve_index=False) for day in [a, b, c]}
    encoded = {day: f"bytes of {day}".encode() for day in tables}
    size = max(len(encoded[day]) + table.nbytes for day, table in tables.items())
    kept = lake_formats.EncodedTables(limit_bytes=2 * size, object_bytes=size)
    kept.remember(encoded[a], tables[a], size)
    kept.remember(encoded[b], tables[b], size)
    assert kept.recall(encoded[a]) is not None  # a is now the most recently used
    kept.remember(encoded[c], tables[c], size)
    assert kept.recall(encoded[b]) is None
    assert kept.recall(encoded[a]) is not None
    assert kept.recall(encoded[c]) is not None
    assert kept.recall(b"bytes never encoded") is None
    too_big = lake_formats.EncodedTables(limit_bytes=10 * size, object_bytes=size // 2)
    too_big.remember(encoded[a], tables[a], size)
    assert too_big.recall(encoded[a]) is None


def test_parquet_partitions_read_as_one_hive_table(tmp_path: Path) -> None:
    lake = LakeResource(local_dir=str(tmp_path))
    frames = {"2026-11-26": plays_frame("2026-11-26", 2), DAY: plays_frame(DAY, 3)}
    lake.write_table_partitions(["silver", "plays"], frames, PLAYS)
    hive = ds.partitioning(pa.schema([("extraction_date", pa.date32())]), flavor="hive")
    table = ds.dataset(tmp_path / "silver" / "plays", partitioning=hive).to_table()
    assert table.num_rows == 5
    assert table.schema.field("extraction_date").type == pa.date32()
    assert sorted(table["extraction_date"].to_pylist()) == [date(2026, 11, 26)] * 2 + [date(2026, 11, 27)] * 3


def test_rows_must_match_their_partition(tmp_path: Path) -> None:
    lake = LakeResource(local_dir=str(tmp_path))
    expected = r"silver/plays partition 2026-11-28: .* extraction_date = 2026-11-28, found \['2026-11-27'\]"
    with pytest.raises(ValueError, match=expected):
        lake.write_table_partitions(["silver", "plays"], {"2026-11-28": plays_frame(DAY, 1)}, PLAYS)
    assert stored_objects(lake) == set()


@pytest.mark.parametrize("file_format", FORMATS)
def test_missing_table_partition_names_the_uri(new_lake: LakeFactory, file_format: str) -> None:
    lake = new_lake(file_format=file_format)
    lake.write_table_partitions(["silver", "plays"], {DAY: plays_frame(DAY, 1)}, PLAYS)
    missing = lake.uri(lake.table_path(["silver", "plays"], "2026-11-28"))
    with pytest.raises(
        MissingPartitionError, match=f"{missing}.*materialize silver/plays for partition 2026-11-28"
    ):
        lake.read_table_partitions(["silver", "plays"], [DAY, "2026-11-28"], PLAYS)


def test_corrupt_table_object_names_the_uri(tmp_path: Path) -> None:
    lake = LakeResource(local_dir=str(tmp_path))
    key = lake.table_path(["silver", "plays"], DAY)
    lake.write_bytes(key, b"not parquet")
    with pytest.raises(ValueError, match=f"{lake.uri(key)} is not a valid parquet table"):
        lake.read_table_partitions(["silver", "plays"], [DAY], PLAYS)


# ---- atomic local writes --------------------------------------------------------------------------------


def test_failed_conversion_leaves_previous_objects(new_lake: LakeFactory) -> None:
    lake = new_lake()
    good = plays_frame(DAY, 2)
    lake.write_table_partitions(["silver", "plays"], {DAY: good}, PLAYS)
    before = stored_objects(lake)
    bad = plays_frame(DAY, 1).astype(object).assign(duration_ms="not a number")
    other_day = plays_frame("2026-11-26", 1)
    with pytest.raises((TypeError, ValueError), match="not a number"):
        lake.write_table_partitions(["silver", "plays"], {"2026-11-26": other_day, DAY: bad}, PLAYS)
    assert stored_objects(lake) == before
    pd.testing.assert_frame_equal(lake.read_table_partitions(["silver", "plays"], [DAY], PLAYS)[DAY], good)


def test_crash_during_local_write_leaves_previous_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = LakeResource(local_dir=str(tmp_path))
    key = "raw/x/extraction_date=2026-11-27/x.json"
    lake.write_bytes(key, b'{"items":[]}')

    def crash(fds: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(lake_module, "_sync", crash)
    with pytest.raises(OSError, match="disk full"):
        lake.write_bytes(key, b'{"items":[1,2,3]}')
    assert lake.read_bytes(key) == b'{"items":[]}'
    assert stored_objects(lake) == {key}


@pytest.mark.parametrize("syncfs", ["works", "fails", "absent"])
def test_a_batch_of_local_objects_is_synced_once_where_the_file_system_allows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncfs: str
) -> None:
    real_syncfs, real_fsync = lake_module._SYNCFS, os.fsync
    if syncfs == "works" and real_syncfs is None:
        pytest.skip("no syncfs on this platform")
    calls = {"syncfs": 0, "fsync": 0}

    def counted_syncfs(fd: int) -> int:
        calls["syncfs"] += 1
        return real_syncfs(fd) if syncfs == "works" and real_syncfs else -1

    def counted_fsync(fd: int) -> None:
        calls["fsync"] += 1
        real_fsync(fd)

    monkeypatch.setattr(lake_module, "_SYNCFS", None if syncfs == "absent" else counted_syncfs)
    monkeypatch.setattr(lake_module.os, "fsync", counted_fsync)
    lake = LakeResource(local_dir=str(tmp_path))
    objects = {
        f"raw/x/extraction_date=2026-11-{day}/x.json": b'{"items":[%d]}' % day for day in range(20, 25)
    }
    lake.write_objects(objects)
    assert {key: lake.read_bytes(key) for key in objects} == objects
    # One sync of the file system for the batch; a sync per file where there is none or it fails.
    assert (calls["syncfs"], calls["fsync"]) == {"works": (1, 0), "fails": (1, 5), "absent": (0, 5)}[syncfs]


def test_local_objects_are_readable_by_others(tmp_path: Path) -> None:
    lake = LakeResource(local_dir=str(tmp_path))
    lake.write_bytes("raw/x/extraction_date=2026-11-27/x.json", b"{}")
    mode = (tmp_path / "raw/x/extraction_date=2026-11-27/x.json").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


# ---- raw JSON -------------------------------------------------------------------------------------------


def test_json_round_trip_preserves_the_api_object(new_lake: LakeFactory, fixtures_dir: Path) -> None:
    lake = new_lake()
    path = fixtures_dir / "recently_played" / "recently_played_2017_20items.json"
    original = json.loads(path.read_text(encoding="utf-8"))
    unicode_payload = {"items": [{"track": {"name": 'Hoppípolla — 日本 "q"\n'}}], "next": None, "a": 1.5}
    lake.write_json_partitions(
        ["raw", "recently_played"], "recently_played.json", {DAY: original, "2026-11-28": unicode_payload}
    )
    read = lake.read_json_partition(["raw", "recently_played"], "recently_played.json", DAY)
    assert read == original
    assert json.dumps(read) == json.dumps(original)  # same key order too
    key = lake.partition_path(["raw", "recently_played"], "2026-11-28", "recently_played.json")
    expected = '{"items":[{"track":{"name":"Hoppípolla — 日本 \\"q\\"\\n"}}],"next":null,"a":1.5}'
    assert lake.read_bytes(key) == expected.encode("utf-8")


def test_absent_json_partition_is_none(new_lake: LakeFactory) -> None:
    assert new_lake().read_json_partition(["raw", "recently_played"], "recently_played.json", DAY) is None


@pytest.mark.parametrize("data", [b'{"items": [', b"\xff\xfe{}"])
def test_malformed_json_names_the_uri(new_lake: LakeFactory, data: bytes) -> None:
    lake = new_lake()
    key = lake.partition_path(["raw", "recently_played"], DAY, "recently_played.json")
    lake.write_bytes(key, data)
    with pytest.raises(ValueError, match=f"{lake.uri(key)} is not valid UTF-8 JSON"):
        lake.read_json_partition(["raw", "recently_played"], "recently_played.json", DAY)


@pytest.mark.parametrize(
    "asset_path,partition_key",
    [(["raw", "x"], "2026-11-27T00:00"), (["raw", "x"], "20261127"), (["..", "x"], DAY), (["raw", ""], DAY)],
)
def test_invalid_paths_are_rejected(asset_path: list[str], partition_key: str) -> None:
    with pytest.raises(ValueError):
        LakeResource().partition_path(asset_path, partition_key, "x.json")


# ---- IO manager -----------------------------------------------------------------------------------------

PARTITIONS = dg.DailyPartitionsDefinition(start_date="2026-11-01")
ITEMS_PER_DAY = {"2026-11-25": 2, "2026-11-26": 3, "2026-11-27": 4}


@dg.asset(key=["raw", "x"], partitions_def=PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run())
def raw_x(context: dg.AssetExecutionContext) -> DayBatches:
    """Fake raw payloads: ITEMS_PER_DAY items per day."""
    return DayBatches.of(
        {
            day: {
                "items": [
                    {"played_at": f"{day}T10:0{i}:00.000Z", "track": {"id": f"t{i}"}}
                    for i in range(ITEMS_PER_DAY[day])
                ]
            }
            for day in context.partition_keys
        }
    )


@dg.asset(
    key=["silver", "plays"],
    ins={"raw": dg.AssetIn(key=["raw", "x"])},
    partitions_def=PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def silver_plays(raw: DayBatches) -> DayBatches:
    """One play row per raw item."""
    return DayBatches.of({day: plays_frame(day, len(payload["items"])) for day, payload in raw.items()})


def materialization_metadata(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dict[str, Any]]:
    """(asset, partition) -> metadata values of the run's materializations."""
    return {
        (event.asset_key.to_user_string(), event.partition): {
            k: v.value for k, v in event.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
    }


def test_io_manager_materializes_a_partition_and_a_range(new_lake: LakeFactory) -> None:
    lake = new_lake()
    resources = {"io_manager": LakeIOManager(lake=lake)}
    single = dg.materialize([raw_x, silver_plays], partition_key="2026-11-27", resources=resources)
    tags = {
        "dagster/asset_partition_range_start": "2026-11-25",
        "dagster/asset_partition_range_end": "2026-11-26",
    }
    ranged = dg.materialize([raw_x, silver_plays], tags=tags, resources=resources)
    days = ["2026-11-25", "2026-11-26", "2026-11-27"]
    expected = {f"raw/x/extraction_date={d}/x.json" for d in days} | {
        f"silver/plays/extraction_date={d}/plays.parquet" for d in days
    }
    assert stored_objects(lake) == {stored_key(lake, key) for key in expected}

    metadata = materialization_metadata(single)
    assert set(metadata) == {("raw/x", "2026-11-27"), ("silver/plays", "2026-11-27")}
    assert metadata[("raw/x", "2026-11-27")]["dagster/row_count"] == 4
    assert metadata[("silver/plays", "2026-11-27")]["dagster/row_count"] == 4
    assert metadata[("silver/plays", "2026-11-27")]["lake_uri"] == lake.uri(
        "silver/plays/extraction_date=2026-11-27/plays.parquet"
    )
    schema = metadata[("silver/plays", "2026-11-27")]["dagster/column_schema"]
    assert [c.name for c in schema.columns] == list(PLAYS.column_names)

    metadata = materialization_metadata(ranged)
    assert {partition for _, partition in metadata} == {"2026-11-25", "2026-11-26"}
    for (asset, partition), values in metadata.items():
        # each partition's event holds its own values; the run's totals are on the last one, named range/
        filename = "x.json" if asset == "raw/x" else "plays.parquet"
        assert values["lake_uri"] == lake.uri(f"{asset}/extraction_date={partition}/{filename}")
        assert values["dagster/partition_row_count"] == ITEMS_PER_DAY[partition], (asset, partition)
        first, last = (
            lake.uri(f"{asset}/extraction_date={d}/{filename}") for d in ("2026-11-25", "2026-11-26")
        )
        totals = {"range/dagster/row_count": 5, "range/lake_object_count": 2}
        totals["range/lake_uri"] = f"{first} .. {last}"
        totals["range/partitions"] = "2026-11-25 .. 2026-11-26 (2 partitions)"
        shown = {key: values[key] for key in totals if key in values}
        assert shown == (totals if partition == "2026-11-26" else {}), (asset, partition)
    plays = lake.read_table_partitions(["silver", "plays"], days, PLAYS)
    assert {day: len(frame) for day, frame in plays.items()} == ITEMS_PER_DAY


@dg.asset(
    ins={"plays": dg.AssetIn(key=["silver", "plays"], metadata={COLUMNS: ["track_key", "played_at"]})},
    partitions_def=PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="memory",
)
def played_tracks(plays: DayBatches) -> dict[str, pd.DataFrame]:
    """Each day's silver plays, read as the input's metadata asks: two columns."""
    return dict(plays.items())


def test_an_input_naming_columns_reads_only_those(new_lake: LakeFactory) -> None:
    resources = {"io_manager": LakeIOManager(lake=new_lake()), "memory": dg.InMemoryIOManager()}
    result = dg.materialize([raw_x, silver_plays, played_tracks], partition_key=DAY, resources=resources)
    [frame] = result.output_for_node("played_tracks").values()
    # The table's order and types, none of its other columns.
    expected = conform(plays_frame(DAY, ITEMS_PER_DAY[DAY]), PLAYS)[["played_at", "track_key"]]
    pd.testing.assert_frame_equal(frame, expected)


def test_a_table_input_selects_columns_read_as_such_from_the_objects(
    new_lake: LakeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = new_lake()
    days = ["2026-11-26", "2026-11-27"]
    frames = {day: conform(plays_frame(day, 3), PLAYS) for day in days}
    write_asset_output(lake, dg.AssetKey(["silver", "plays"]), DayBatches.of(frames))
    read_columns: list[list[str]] = []
    read = LakeResource.read_table_partitions

    def recording(self, path, keys, spec):  # type: ignore[no-untyped-def]
        read_columns.append(list(spec.column_names))
        return read(self, path, keys, spec)

    monkeypatch.setattr(LakeResource, "read_table_partitions", recording)
    plays = read_asset_input(lake, dg.AssetKey(["silver", "plays"]), days)
    selected = plays.select(["track_key", "played_at"])
    assert list(selected) == days
    for day in days:
        pd.testing.assert_frame_equal(selected[day], frames[day][["played_at", "track_key"]])
    assert read_columns == [["played_at", "track_key"]]  # one read of the batch, of those columns only
    pd.testing.assert_frame_equal(plays[days[0]], frames[days[0]])  # the input itself: every column
    assert read_columns[1] == list(PLAYS.column_names)


def test_missing_raw_partition_says_what_to_materialize(new_lake: LakeFactory) -> None:
    lake = new_lake()
    write_asset_output(lake, dg.AssetKey(["raw", "x"]), DayBatches.of({"2026-11-26": {"items": []}}))
    uri = lake.uri("raw/x/extraction_date=2026-11-27/x.json")
    with pytest.raises(MissingPartitionError, match=f"{uri}.*materialize raw/x for partition 2026-11-27"):
        read_asset_input(lake, dg.AssetKey(["raw", "x"]), ["2026-11-26", "2026-11-27"])


def test_a_long_range_missing_one_partition_names_it_before_reading(new_lake: LakeFactory) -> None:
    lake = new_lake()
    days = [f"2026-11-{day:02d}" for day in range(1, 13)]  # more than EXISTS_ONE_BY_ONE: one listing
    frames = {day: plays_frame(day, 2) for day in days if day != "2026-11-07"}
    write_asset_output(lake, dg.AssetKey(["silver", "plays"]), DayBatches.of(frames))
    raw = DayBatches.of({day: {"items": []} for day in frames})
    write_asset_output(lake, dg.AssetKey(["raw", "x"]), raw)
    assert len(read_asset_input(lake, dg.AssetKey(["silver", "plays"]), list(frames))) == len(frames)
    for asset, name in ((["silver", "plays"], "plays.parquet"), (["raw", "x"], "x.json")):
        uri = lake.uri(f"{'/'.join(asset)}/extraction_date=2026-11-07/{name}")
        with pytest.raises(MissingPartitionError, match=f"{uri}.*partition 2026-11-07"):
            read_asset_input(lake, dg.AssetKey(asset), days)


def test_downstream_run_fails_when_upstream_partition_is_missing(tmp_path: Path) -> None:
    resources = {"io_manager": LakeIOManager(lake=LakeResource(local_dir=str(tmp_path)))}
    result = dg.materialize(
        [raw_x, silver_plays],
        selection=[silver_plays],
        partition_key=DAY,
        resources=resources,
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert f"materialize raw/x for partition {DAY} first" in str(failure.step_failure_data.error)


def test_io_manager_rejects_output_for_other_partitions(tmp_path: Path) -> None:
    @dg.asset(key=["raw", "x"], partitions_def=PARTITIONS)
    def wrong_day() -> DayBatches:
        return DayBatches.of({"2026-11-01": {"items": []}})

    resources = {"io_manager": LakeIOManager(lake=LakeResource(local_dir=str(tmp_path)))}
    with pytest.raises(
        ValueError, match=r"returned partitions \['2026-11-01'\] but the run materializes \['2026-11-27'\]"
    ):
        dg.materialize([wrong_day], partition_key=DAY, resources=resources)
    assert stored_objects(LakeResource(local_dir=str(tmp_path))) == set()


def test_a_range_longer_than_a_month_previews_its_last_month_only(new_lake: LakeFactory) -> None:
    lake = new_lake()
    days = [(date(2026, 10, 1) + pd.Timedelta(days=n)).isoformat() for n in range(40)]
    frames = {day: plays_frame(day, 1 + n % 3) for n, day in enumerate(days)}
    _, per_partition = write_asset_output(lake, dg.AssetKey(["silver", "plays"]), DayBatches.of(frames))
    previewed = sorted(day for day, values in per_partition.items() if "preview" in values)
    assert previewed == days[-31:]
    counts = {day: values["dagster/partition_row_count"] for day, values in per_partition.items()}
    assert counts == {day: len(frame) for day, frame in frames.items()}  # every day keeps its count
    _, month = write_asset_output(
        lake, dg.AssetKey(["silver", "plays"]), DayBatches.of({day: frames[day] for day in days[:31]})
    )
    assert all("preview" in values for values in month.values()) and len(month) == 31


def test_a_batch_whose_last_object_cannot_be_written_changes_none_and_leaves_no_temporary_file(
    tmp_path: Path,
) -> None:
    lake = LakeResource(local_dir=str(tmp_path / "lake"))
    lake.write_bytes("silver/plays/extraction_date=2026-11-27/plays.parquet", b"old")
    (tmp_path / "lake" / "silver" / "blocked").write_bytes(b"a file where a folder should be")
    objects = {
        "silver/plays/extraction_date=2026-11-27/plays.parquet": b"new",
        "silver/blocked/extraction_date=2026-11-28/plays.parquet": b"new",
    }
    with pytest.raises(OSError):
        lake.write_objects(objects)
    assert lake.read_bytes("silver/plays/extraction_date=2026-11-27/plays.parquet") == b"old"
    files = sorted(p.name for p in (tmp_path / "lake").rglob("*") if p.is_file())
    assert files == ["blocked", "plays.parquet"]
