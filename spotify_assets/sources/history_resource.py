"""The history resource: where a household's Spotify data-export files are (reading them is `history`'s)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from spotify_assets.contracts.listener_scope import DEFAULT_LISTENER, LISTENER_FOLDER

if TYPE_CHECKING:
    from spotify_assets.sources.history import ExportRead


class HistoryResource(dg.ConfigurableResource):
    """Where Spotify's data-export files are: HISTORY_DIR (unset: no history to import).

    Its rows are split into days in the partitions' time zone (the asset takes it from its partitions
    definition), so the resource has no time zone of its own.

    Example:
        HistoryResource(folder="~/Downloads/my_spotify_data")
    """

    folder: str | None = Field(
        default=None, description="Folder of export files (searched recursively); unset: nothing to import"
    )

    def read(self, listener: str = DEFAULT_LISTENER) -> ExportRead:
        """Read and check every export file of `listener` once (raises HistoryFileError for a malformed one):
        the default listener's are the folder's, a registered listener's are in its `listener=<name>`
        subfolder (absent: nothing to import)."""
        from spotify_assets.sources.history import read_export_folder  # numpy, pandas: see LAZY_IMPORTS

        if listener == DEFAULT_LISTENER or self.folder is None:
            return read_export_folder(self.folder)
        subfolder = Path(self.folder).expanduser() / f"{LISTENER_FOLDER}{listener}"
        return read_export_folder(subfolder if subfolder.is_dir() else None)

    def listeners(self) -> list[str]:
        """The listeners with a `listener=<name>` subfolder of exports, sorted."""
        folder = Path(self.folder).expanduser() if self.folder else None
        if folder is None or not folder.is_dir():
            return []
        return sorted(
            path.name.removeprefix(LISTENER_FOLDER)
            for path in folder.iterdir()
            if path.is_dir() and path.name.startswith(LISTENER_FOLDER)
        )
