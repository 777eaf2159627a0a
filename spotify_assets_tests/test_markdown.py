"""The one Markdown table helper: every table of the metadata and the report pages goes through it."""

import pandas as pd
import pytest

from spotify_assets.contracts.markdown import markdown_cell, markdown_table
from spotify_assets.quality.rules import sample_table
from spotify_assets.storage.asset_metadata import preview_table


def cells(line: str) -> list[str]:
    """A table row's cells, split on the unescaped pipes."""
    return [part.strip() for part in line.strip().removeprefix("|").removesuffix("|").split(" | ")]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("a|b", "a\\|b"),
        ("line\nbreak", "line break"),
        ("cr\r\nlf", "cr  lf"),
        ("next\x85line\u2028sep", "next line sep"),
        ("tab\tbed", "tab bed"),
        (None, ""),
        (3, "3"),
        (0.50, "0.5"),
    ],
)
def test_a_cell_is_one_line_with_pipes_escaped(value, text):
    assert markdown_cell(value) == text


def test_a_table_has_its_header_a_rule_and_one_line_per_row():
    table = markdown_table(["name", "a|b"], [["x\ny", 1], ["p|q", None], ["007", "1e3"]])
    lines = table.splitlines()
    assert len(lines) == 5
    assert cells(lines[0]) == ["name", "a\\|b"]
    assert set(lines[1]) <= {"|", "-"}
    assert cells(lines[2]) == ["x y", "1"]
    assert cells(lines[3]) == ["p\\|q", ""]
    assert cells(lines[4]) == ["007", "1e3"]  # numbers-looking text is shown as given


def test_an_empty_table_is_its_header():
    assert markdown_table(["a", "b"], []).splitlines()[0] == "| a   | b   |"


def test_check_samples_and_previews_escape_the_same_way():
    frame = pd.DataFrame({"track": ["One|Two\nThree"], "plays": [2]})
    sample = sample_table(frame).splitlines()
    preview = preview_table(frame, ["track", "plays"]).splitlines()
    assert cells(sample[2]) == cells(preview[2]) == ["One\\|Two Three", "2"]
