"""Materialization metadata: a table's column schema, and what differs by partition (row counts, a preview).

In a single-run backfill one output covers several partitions, and Dagster records one materialization per
partition. Metadata added with `OutputContext.add_output_metadata` lands on all of them; what is specific to
one partition (its row count, its first rows) goes on that partition's event only.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from spotify_assets.contracts.markdown import markdown_table
from spotify_assets.contracts.tables import TableSpec
from spotify_assets.storage.step_metadata import add_partition_metadata

if TYPE_CHECKING:
    import pandas as pd

PREVIEW_ROWS = 5
MAX_CELL_CHARS = 40
MAX_PREVIEW_COLUMNS = 9
PREVIEW_COLUMNS: dict[str, tuple[str, ...]] = {
    "silver.plays": ("played_at", "track_name", "artist_names", "album_name", "context_type", "source"),
    "gold.fact_recently_played": (
        "played_at",
        "track_key",
        "primary_artist_key",
        "hour_of_day",
        "duration_ms",
        "ms_played",
        "source",
    ),
    "gold.dim_album": (
        "album_key",
        "name",
        "album_type",
        "release_year",
        "total_tracks",
        "primary_artist_key",
    ),
    "gold.dim_track": ("track_key", "name", "duration_ms", "explicit", "album_key", "primary_artist_key"),
}
"""Columns shown in the preview of wide tables; other tables show their first columns."""


def column_schema(spec: TableSpec) -> dg.TableSchema:
    """The spec as Dagster column-schema metadata (PostgreSQL types, nullability, primary key)."""
    columns = [
        dg.TableColumn(
            name=c.name,
            type=c.pg_type,
            description=c.description,
            constraints=dg.TableColumnConstraints(nullable=c.nullable),
        )
        for c in spec.columns
    ]
    constraints = dg.TableConstraints(other=[f"primary key ({', '.join(spec.primary_key)})"])
    return dg.TableSchema(columns=columns, constraints=constraints)


def _cell(value: Any) -> str:
    import pandas as pd  # tables: see LAZY_IMPORTS

    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        text = ""
    elif isinstance(value, pd.Timestamp) and value.tzinfo is not None:
        text = value.tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    elif isinstance(value, list | tuple):
        text = ", ".join("" if v is None else str(v) for v in value)
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def preview_table(frame: pd.DataFrame, columns: Sequence[str], rows: int = PREVIEW_ROWS) -> str:
    """The first `rows` rows of `columns` as a Markdown table (long cells cut)."""
    head = frame.head(rows)
    cells = zip(*(head[column].tolist() for column in columns), strict=True)
    return markdown_table(columns, [[_cell(value) for value in row] for row in cells])


def preview(frame: pd.DataFrame, spec: TableSpec) -> dg.MarkdownMetadataValue:
    """A Markdown preview of a partition's first rows, with the row count."""
    columns = PREVIEW_COLUMNS.get(spec.qualified_name, spec.column_names[:MAX_PREVIEW_COLUMNS])
    shown = min(len(frame), PREVIEW_ROWS)
    caption = f"First {shown} of {len(frame)} rows of `{spec.qualified_name}` in this partition."
    if frame.empty:
        return dg.MetadataValue.md(f"No rows of `{spec.qualified_name}` in this partition.")
    return dg.MetadataValue.md(f"{caption}\n\n{preview_table(frame, columns)}")


PREVIEW_LAST_PARTITIONS = 31
"""A range of at most this many partitions previews each of them; a longer one (an imported history) its last
this many: a decade's 3,653 previews per table were a good part of storing its events, and nobody pages
through them."""


def previewed_partitions(partition_keys: Collection[str]) -> set[str]:
    """An output's partitions that get a `preview`: all of a month or less, else its last month."""
    return set(sorted(partition_keys)[-PREVIEW_LAST_PARTITIONS:])


def table_partition_metadata(
    frames: Mapping[str, pd.DataFrame], spec: TableSpec, previewed: Collection[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Per partition: `dagster/partition_row_count` (rows of the partition's object) and, for the partitions
    in `previewed` (default: all), a `preview`."""
    # A `DayFrames` knows each day's rows without slicing its frame.
    counts = getattr(frames, "counts", None) or {key: len(frame) for key, frame in frames.items()}
    return {
        key: {"dagster/partition_row_count": rows}
        | ({"preview": preview(frames[key], spec)} if previewed is None or key in previewed else {})
        for key, rows in counts.items()
    }


def raw_partition_metadata(payloads: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per partition of a raw JSON asset: `dagster/partition_row_count` (its `items`), when it has a list."""
    out = {}
    for key, payload in payloads.items():
        items = payload.get("items") if isinstance(payload, Mapping) else None
        if isinstance(items, list):
            out[key] = {"dagster/partition_row_count": len(items)}
    return out


LAST_PARTITION_ONLY = ("dagster/column_schema",)
"""Output metadata a range run records on its last partition's event only: the column schema is the same
for every partition (and is also definition metadata), and at ~9 KB an event it was a good part of the cost
of storing a year's events."""
EVERY_PARTITION = ("warehouse_table", "dagster/table_name")
"""Output metadata that is true of each partition of a range: where its rows went."""
RANGE_PREFIX = "range/"
"""A range run's totals (rows written, objects, counts over its days) go on its last partition's event under
this prefix, next to `range/partitions` (`first .. last (N partitions)`): a partition's event holds that
partition's own values, and the run's totals are named as such."""


def record_output_metadata(
    context: dg.OutputContext,
    metadata: Mapping[str, Any],
    per_partition: Mapping[str, Mapping[str, Any]],
    table_wide: Sequence[str] = (),
) -> None:
    """Record an output's metadata, and each partition's own metadata on that partition's event.

    A single-partition output takes both as output metadata. For a range, the per-partition entries go to the
    step's partition-scoped asset metadata, which Dagster merges into each partition's materialization;
    `EVERY_PARTITION` entries go on every event; `LAST_PARTITION_ONLY` and `table_wide` entries (the table's
    state after the write, e.g. its `count(*)`) on the last partition's event, and every other entry (a total
    over the range) there too, as `range/<name>`.
    """
    if len(per_partition) <= 1:
        context.add_output_metadata({**metadata, **next(iter(per_partition.values()), {})})
        return
    context.add_output_metadata({key: metadata[key] for key in EVERY_PARTITION if key in metadata})
    first, last = min(per_partition), max(per_partition)
    last_only: dict[str, Any] = {}
    for key, value in metadata.items():
        if key in LAST_PARTITION_ONLY or key in table_wide:
            last_only[key] = value
        elif key not in EVERY_PARTITION:
            last_only[f"{RANGE_PREFIX}{key}"] = value
    last_only[f"{RANGE_PREFIX}partitions"] = f"{first} .. {last} ({len(per_partition)} partitions)"
    entries = {
        key: {**values, **last_only} if key == last else values for key, values in per_partition.items()
    }
    add_partition_metadata(context, entries)
