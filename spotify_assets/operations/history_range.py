"""`spotify-assets history-range`: the days a Spotify data export covers and the settings to import it."""

from __future__ import annotations

from datetime import date

from spotify_assets.contracts.export_kinds import STORED_KINDS, VIDEO
from spotify_assets.sources.history import read_export_folder
from spotify_assets.transforms.history import day_range


def history_range_lines(folder: str, timezone: str, start: date) -> list[str]:
    """What an export folder holds: files and rows per kind with their days, and the settings to import it
    (PARTITIONS_START_DATE only when the export starts before `start`, the current one)."""
    export = read_export_folder(folder)
    lines = [f"Spotify export files in {export.folder} (subfolders included):"]
    for kind in (*STORED_KINDS, VIDEO):
        files = export.of_kind(kind)
        label = "video (skipped)" if kind == VIDEO else kind
        days = day_range(files, timezone)
        span = f"  {days[0]} .. {days[1]}" if days and kind != VIDEO else ""
        rows = sum(f.rows for f in files)
        lines.append(f"  {label:<24} {len(files):>3} file(s) {rows:>10,} rows{span}")
    if export.ignored:
        lines.append(f"  ignored (not listening history): {len(export.ignored)} file(s)")
    days = day_range(export.stored_files(), timezone)
    if days is None:
        lines.append("No listening history found: nothing to import.")
        return lines
    first, last = days
    lines += [
        f"First day {first}, last day {last} (days in {timezone}, PARTITIONS_TIMEZONE).",
        "Set in .env (or the environment):",
        f"  HISTORY_DIR={export.folder}",
        *start_date_advice(date.fromisoformat(first), start),
        "and import it in one run:",
        "  dagster asset materialize -m spotify_assets.definitions --select '*' "
        f"--partition-range {first}...{last}",
    ]
    return lines


def start_date_advice(first: date, start: date) -> list[str]:
    """The PARTITIONS_START_DATE lines of `history-range`: move it back to the export's `first` day only when
    the partitions start later (`start`); moving it forward would drop partitions that may hold data."""
    if first < start:
        return [
            f"  PARTITIONS_START_DATE={first}",
            f"(PARTITIONS_START_DATE is {start} now: the partitions must reach back to the export's "
            "first day.)",
        ]
    return [f"PARTITIONS_START_DATE needs no change: it is {start}, on or before the export's first day."]
