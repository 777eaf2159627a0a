"""Markdown tables for metadata and report pages, through `tabulate`: every cell on one line, `|` escaped."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from tabulate import tabulate

# Control characters (tab, CR, LF, NEL...) and the Unicode line and paragraph separators.
_NOT_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: object) -> str:
    """`text` as one line: each control character or line/paragraph separator becomes a space."""
    return _NOT_ONE_LINE.sub(" ", str(text))


def markdown_cell(value: object) -> str:
    """`value` as the text of one Markdown table cell: on one line, `|` escaped, None empty."""
    return "" if value is None else one_line(value).replace("|", "\\|")


def markdown_table(header: Sequence[object], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub Markdown table; cells are shown as their text (no number reformatting)."""
    cells = [[markdown_cell(value) for value in row] for row in rows]
    return tabulate(
        cells, headers=[markdown_cell(name) for name in header], tablefmt="github", disable_numparse=True
    )
