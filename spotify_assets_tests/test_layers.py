"""The layers import downward only: sources -> transforms -> storage never reach up or sideways.

`transforms` are pure functions (they know the table specs and the export formats, not where data comes from
or goes); `storage` knows where tables go, not what is computed; `sources` know where plays come from. The
assets, the resource wiring (`resources.py`) and `definitions.py` sit above and join them.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "spotify_assets"

FORBIDDEN = {
    "transforms": ("spotify_assets.sources", "spotify_assets.storage", "spotify_assets.assets"),
    "storage": ("spotify_assets.transforms", "spotify_assets.assets", "spotify_assets.sources"),
    "sources": ("spotify_assets.assets", "spotify_assets.storage"),
}


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


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_or_beside_it(layer):
    files = sorted((PACKAGE / layer).glob("*.py"))
    assert files
    wrong = {
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in files
        for module in imported_modules(path)
        if any(module == banned or module.startswith(f"{banned}.") for banned in FORBIDDEN[layer])
    }
    assert not wrong, sorted(wrong)


def test_the_check_sees_an_upward_import(tmp_path):
    path = tmp_path / "example.py"
    path.write_text("def f():\n    from spotify_assets.sources import history\n", encoding="utf-8")
    assert "spotify_assets.sources.history" in imported_modules(path)
