"""What silver and gold return: a batch's transform error is a `TransformError` naming the asset, the days and
the transform; an error of anything else (a corrupt lake object read on the way) keeps its own type."""

import dagster as dg
import pytest

from spotify_assets.assets.batches import TransformError, built_in_batches
from spotify_assets.storage.lake import LakeObjectError, LakeResource
from spotify_assets.transforms.history_plays import read_partitions
from spotify_assets.transforms.silver import flatten_recently_played

ASSET = dg.AssetKey(["silver", "plays"])
DAYS = ["2025-06-01", "2025-06-02", "2025-06-03"]


def test_a_transform_error_names_the_asset_the_days_and_the_transform():
    def build(days: list[str]) -> dict[str, object]:
        return {day: flatten_recently_played([{"played_at": day}], "me", "No/Such_Zone") for day in days}

    batches = built_in_batches(ASSET, DAYS, build)
    with pytest.raises(TransformError) as raised:
        next(batches.batches())
    message = str(raised.value)
    assert message.startswith(
        "silver/plays: transform spotify_assets.transforms.silver.flatten_recently_played failed on "
        "2025-06-01..2025-06-03 (3 days): ZoneInfoNotFoundError: "
    )
    assert isinstance(raised.value, dg.Failure)  # what Dagster reports as the step's own failure
    assert raised.value.__cause__ is not None
    assert {key: value.value for key, value in raised.value.metadata.items()} == {
        "asset": "silver/plays",
        "days": "2025-06-01..2025-06-03 (3 days)",
        "transform": "spotify_assets.transforms.silver.flatten_recently_played",
    }


def test_one_day_is_named_alone():
    batches = built_in_batches(
        ASSET, DAYS[:1], lambda days: {days[0]: flatten_recently_played([1], "me", "?")}
    )
    with pytest.raises(TransformError, match=r"failed on 2025-06-01: "):
        next(batches.batches())


def test_a_corrupt_lake_object_read_inside_a_transform_keeps_its_own_error(tmp_path):
    lake = LakeResource(local_dir=str(tmp_path))
    path = ["raw", "streaming_history"]
    lake.write_bytes(lake.partition_path(path, DAYS[0], "streaming_history.json"), b"\xff not json")

    def build(days: list[str]) -> dict[str, object]:
        # the transform iterates over a lazy read, as silver's history does
        rows = read_partitions(
            (day, lake.read_json_partition(path, "streaming_history.json", day)) for day in days
        )
        return dict.fromkeys(days, rows)

    with pytest.raises(LakeObjectError, match="is not valid UTF-8 JSON"):
        next(built_in_batches(ASSET, DAYS[:1], build).batches())


def test_an_error_outside_the_transforms_is_raised_as_it_is():
    def build(days: list[str]) -> dict[str, object]:
        raise KeyError("not a transform's")

    with pytest.raises(KeyError, match="not a transform's"):
        next(built_in_batches(ASSET, DAYS, build).batches())
