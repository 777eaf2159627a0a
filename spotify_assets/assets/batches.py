"""What silver and gold return: their partitions built a batch of days at a time, a transform's error named.

The IO manager writes such an output batch by batch, so each batch is built inside its `handle_output`, and
Dagster would report any error there as one "while handling output". A transform's error is instead raised as
a `TransformError`, a `dagster.Failure`, which Dagster reports as the step's own failure, as it is: the
message names the asset, the batch's days and the transform (the outermost function of
`spotify_assets.transforms` on the error's stack), and the original error is its cause. The warehouse write,
one transaction, is rolled back. An error raised in storage (a lazy input's corrupt lake object, read while a
transform iterates over it) is no transform's: it keeps its own type and message, which name the object.
"""

from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import dagster as dg

import spotify_assets.storage
import spotify_assets.transforms
from spotify_assets.contracts.day_batches import DayBatches

TRANSFORMS = spotify_assets.transforms.__name__ + "."
STORAGE = spotify_assets.storage.__name__ + "."


class TransformError(dg.Failure):
    """A transform raised while an asset's batch of days was built; names the asset, days and transform."""

    def __init__(self, asset: str, days: Sequence[str], transform: str, error: Exception) -> None:
        span = days[0] if len(days) == 1 else f"{days[0]}..{days[-1]} ({len(days)} days)"
        super().__init__(
            f"{asset}: transform {transform} failed on {span}: {type(error).__name__}: {error}",
            metadata={"asset": asset, "days": span, "transform": transform},
        )


def transform_of(traceback: TracebackType | None) -> str | None:
    """`module.function` of the outermost frame of `spotify_assets.transforms` on a traceback; None when there
    is none, or when the error was raised in storage below it."""
    transform = None
    while traceback is not None:
        module = traceback.tb_frame.f_globals.get("__name__", "")
        if transform is None and module.startswith(TRANSFORMS):
            transform = f"{module}.{traceback.tb_frame.f_code.co_name}"
        elif transform is not None and module.startswith(STORAGE):
            return None
        traceback = traceback.tb_next
    return transform


def built_in_batches(
    asset_key: dg.AssetKey,
    days: Sequence[str],
    build: Callable[[list[str]], Mapping[str, Any]],
    metadata: Callable[[], dict[str, Any]] | None = None,
) -> DayBatches:
    """`{day: payload}` for `days`, each batch made by `build(batch days)` when the IO manager writes it.

    An error raised inside a transform becomes a `TransformError`; any other (a corrupt lake object read
    on the way, say) keeps its own type and message, which name what failed.
    """
    asset = asset_key.to_user_string()

    def load(batch: list[str]) -> Mapping[str, Any]:
        try:
            return build(batch)
        except Exception as error:
            transform = transform_of(error.__traceback__)
            if transform is None:
                raise
            raise TransformError(asset, batch, transform, error) from error

    return DayBatches(days, load, metadata=metadata)
