"""Every module of the package imports only from its own area and the areas below it, at the top of the file.

The areas, lowest first: `contracts` (table specs, export formats, listener partitions, settings, text) import
no other area; `sources` (where plays come from), `transforms` (pure functions) and `storage` (where tables
go) know the contracts and not each other; `report` draws what `transforms` computed; `assets` join sources,
transforms, storage and report into the Dagster graph with its wiring; `quality` checks the assets' rows;
`operations` run the installation (CLI, served processes, instance, listeners, rebuilds); the package root
(`definitions.py`) assembles everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "spotify_assets"
ROOT = "(root)"
"""The area of the modules at the package root: `__init__.py` and `definitions.py`."""

MAY_IMPORT: dict[str, set[str]] = {
    "contracts": set(),
    "sources": {"contracts"},
    "transforms": {"contracts"},
    "storage": {"contracts"},
    "report": {"contracts", "transforms"},
    "assets": {"contracts", "sources", "transforms", "storage", "report"},
    "quality": {"contracts", "sources", "transforms", "storage", "assets"},
    "operations": {"contracts", "sources", "transforms", "storage", "report", "assets", "quality"},
    ROOT: {"contracts", "sources", "transforms", "storage", "report", "assets", "quality", "operations"},
}
"""Area -> the other areas its modules may import (its own is always allowed)."""

LAZY_IMPORTS: dict[str, set[str]] = {
    # A lake on S3 only: dagster-aws and boto cost about a second of every process's start-up (the CLI,
    # `dagster dev`, each run), which a lake in a local folder does not need.
    "storage/lake.py": {
        "dagster_aws.s3",
        "botocore.exceptions",
        # A step's: a table's frames (pandas, pyarrow); the lake's JSON and bytes need neither.
        "pandas",
        "spotify_assets.contracts.table_frames",
        "spotify_assets.storage.lake_formats",
    },
    # The embedded PostgreSQL only (no DB_HOST): importing pgserver also warns about XDG_RUNTIME_DIR, which
    # the CLI hides only once it runs (quiet_run.hide_quiet_warnings), so every command would print it.
    # A step's: psycopg (a connection), which the definitions never open.
    "storage/postgres.py": {
        "pgserver",
        "pgserver.utils",
        "psycopg",
        "psycopg.conninfo",
        "spotify_assets.storage.kept_connection",
    },
    # A step's, for each of these: the frames, the warehouse's SQL, the transforms, the charts.
    "storage/asset_metadata.py": {"pandas"},
    "storage/lake_io.py": {"pandas", "spotify_assets.contracts.table_frames"},
    "storage/postgres_io.py": {
        "pandas",
        "spotify_assets.storage.warehouse",
        "spotify_assets.storage.warehouse_write",
    },
    "contracts/raw_merge.py": {"spotify_assets.contracts.export_formats"},
    "sources/history_resource.py": {"spotify_assets.sources.history"},
    # The source a run asks for: the sample's catalogue, or the live client (spotipy, requests).
    "sources/resource.py": {"spotify_assets.sources.live", "spotify_assets.sources.sample"},
    "assets/raw.py": {"spotify_assets.transforms.items"},
    "assets/history.py": {
        "numpy",
        "spotify_assets.sources.history",
        "spotify_assets.transforms.history",
    },
    "assets/silver.py": {
        "pandas",
        "spotify_assets.transforms.history_plays",
        "spotify_assets.transforms.items",
        "spotify_assets.transforms.plays",
        "spotify_assets.transforms.silver",
    },
    "assets/gold.py": {"spotify_assets.transforms.gold", "spotify_assets.assets.gold_batches"},
    "assets/report.py": {"spotify_assets.assets.report_pages"},
    "quality/checks.py": {"spotify_assets.quality.table_evaluation"},
    # Sent only when an alert or a heartbeat goes out: requests.
    "operations/alerts/channels.py": {"requests"},
    "operations/alerts/heartbeat.py": {"requests"},
    # Dagster's scheduler package (about 70 ms), read only when the alert sensor looks at a schedule's state.
    "operations/alerts/watch.py": {"dagster._core.scheduler.instigation"},
    # Removing a listener's plays (the warehouse), which the alert sensor's listener list does not need.
    "operations/listeners.py": {
        "spotify_assets.operations.listener_purge",
        "spotify_assets.operations.rebuild",
    },
    # Each CLI command that needs pandas, pyarrow or spotipy (the Dagster graph, the lake, the Spotify client)
    # imports its module inside its function: `spotify-assets --help`, `instance` and `serve` start without
    # them (a second and more of every start-up on a busy machine).
    "operations/cli.py": {
        "spotify_assets.operations.demo",
        "spotify_assets.operations.history_range",
        "spotify_assets.operations.listener_auth",
        "spotify_assets.operations.alerts.status",
        "spotify_assets.operations.listeners",
        "spotify_assets.operations.rebuild",
        "spotify_assets.sources.auth",
        "spotify_assets.sources.history",
    },
}
"""The only imports allowed inside a function: a heavy dependency kept out of start-up.

Most are a step's: `import spotify_assets.definitions` (every CLI command that loads the graph, `dagster dev`,
each run's process, the code server) loads the wiring only. The asset, check, resource and IO manager modules
import the pandas, pyarrow, psycopg, Pillow and spotipy code they call inside the function that runs in a step
(often a module of its own: `assets.report_pages`, `quality.table_evaluation`), so that start-up does not pay
for it; `test_the_definitions_import_without_the_heavy_libraries` keeps it so."""


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def area_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else ROOT


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def imported_area(module: str) -> str | None:
    """The area `module` belongs to; None outside the package (and for the package itself)."""
    parts = module.split(".")
    if parts[0] != "spotify_assets" or len(parts) == 1:
        return None
    return parts[1] if (PACKAGE / parts[1]).is_dir() else ROOT


def function_level_imports(path: Path) -> set[str]:
    """The modules a file imports inside a function or class (not at module level nor under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nested: set[str] = set()
    for scope in ast.walk(tree):
        if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for node in ast.walk(scope):
                if isinstance(node, ast.Import):
                    nested.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom):
                    nested.add("." * node.level + (node.module or ""))
    return nested


def test_every_folder_of_the_package_is_an_area_in_the_table():
    folders = {path.name for path in PACKAGE.iterdir() if path.is_dir() and path.name != "__pycache__"}
    packages = {folder for folder in folders if (PACKAGE / folder / "__init__.py").is_file()}
    assert packages == set(MAY_IMPORT) - {ROOT}
    entries = [path.name for path in PACKAGE.iterdir() if path.name != "__pycache__"]
    assert len(entries) <= 10, sorted(entries)


def test_the_allowed_directions_go_one_way():
    """The table has no cycle: the areas can be ordered so that each imports only areas before it."""
    order: list[str] = []
    remaining = dict(MAY_IMPORT)
    while remaining:
        ready = [area for area, below in remaining.items() if below <= set(order)]
        assert ready, f"a cycle among {sorted(remaining)}"
        order += sorted(ready)
        for area in ready:
            del remaining[area]
    assert order[-1] == ROOT


def test_every_module_imports_only_its_area_and_those_below():
    files = modules()
    assert len(files) > 60
    wrong = set()
    for path in files:
        area = area_of(path)
        for module in imported_modules(path):
            target = imported_area(module)
            if target is not None and target != area and target not in MAY_IMPORT[area]:
                wrong.add(f"{path.relative_to(PACKAGE)} ({area}) imports {module} ({target})")
    assert not wrong, sorted(wrong)


def test_imports_are_absolute_and_at_the_top():
    relative = {
        str(path.relative_to(PACKAGE))
        for path in modules()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.level
    }
    assert not relative
    nested = {
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in modules()
        for module in function_level_imports(path)
        if module not in LAZY_IMPORTS.get(path.relative_to(PACKAGE).as_posix(), set())
    }
    assert not nested, sorted(nested)


def test_every_lazy_import_listed_is_one():
    """No stale entry: each listed module is imported inside a function of its file."""
    stale = {
        f"{file}: {module}"
        for file, listed in LAZY_IMPORTS.items()
        for module in listed - function_level_imports(PACKAGE / file)
    }
    assert not stale, sorted(stale)


def test_the_check_sees_an_upward_import(tmp_path):
    path = tmp_path / "example.py"
    path.write_text("def f():\n    from spotify_assets.sources import history\n", encoding="utf-8")
    assert "spotify_assets.sources.history" in imported_modules(path)
    assert imported_area("spotify_assets.sources.history") == "sources"
    assert imported_area("spotify_assets.definitions") == ROOT
    assert "sources" not in MAY_IMPORT["storage"]
    assert function_level_imports(path) == {"spotify_assets.sources"}


def test_a_type_checking_import_is_not_a_function_level_one(tmp_path):
    path = tmp_path / "example.py"
    path.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import dagster\n"
        "class A:\n    def f(self):\n        import os\n",
        encoding="utf-8",
    )
    assert function_level_imports(path) == {"os"}


@pytest.mark.parametrize("area", sorted(set(MAY_IMPORT) - {ROOT}))
def test_each_area_holds_modules(area):
    assert sorted((PACKAGE / area).glob("*.py")), area


# A command as the console script runs it, then the heavy modules it imported (none of these three).
LIGHT_START = """
import sys
from spotify_assets.operations.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(sorted({"pandas", "pyarrow", "spotipy"} & set(sys.modules)))
sys.exit(code)
"""


@pytest.mark.slow
@pytest.mark.parametrize("argv", [["--help"], ["instance"]])
def test_light_cli_commands_start_without_pandas_pyarrow_or_spotipy(tmp_path, argv):
    import os
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if not key.startswith(("SPOTIFY_", "DB_", "S3_"))}
    env.update(DAGSTER_HOME=str(tmp_path / "home"), DAGSTER_STORAGE="sqlite")
    done = subprocess.run(
        [sys.executable, "-c", LIGHT_START, *argv], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
    assert (tmp_path / "home" / "dagster.yaml").is_file() == (argv == ["instance"])


HEAVY_LIBRARIES = ("pandas", "pyarrow", "numpy", "PIL", "spotipy", "requests", "psycopg", "boto3", "pgserver")

DEFINITIONS_IMPORT = f"""
import sys
import spotify_assets.definitions
print(sorted(name for name in {HEAVY_LIBRARIES!r} if name in sys.modules))
"""


def test_the_definitions_import_without_the_heavy_libraries(tmp_path):
    """Every process that loads the graph imports the definitions; the libraries a step uses load in the
    step. A fresh interpreter (what the CLI, a run and the code server start from), the default settings."""
    import os
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if not key.startswith(("SPOTIFY_", "DB_", "S3_"))}
    env.update(DAGSTER_HOME=str(tmp_path / "home"), LAKE_DIR=str(tmp_path / "lake"))
    done = subprocess.run(
        [sys.executable, "-c", DEFINITIONS_IMPORT], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
