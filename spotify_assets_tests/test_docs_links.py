"""Every relative link in the README reaches a file: MkDocs checks the pages under docs/ (`make docs`,
strict), but the README lies outside its docs folder, so nothing else would see a page renamed or removed."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Markdown links and images, `[text](target)` or `![alt](target "title")`, outside code spans and blocks.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def prose(markdown: str) -> str:
    """The text without fenced code blocks and inline code, where brackets are not links."""
    without_blocks = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", without_blocks)


def relative_links(markdown: str) -> list[str]:
    """The link targets that point into the repository (no scheme, no host, not only an anchor)."""
    targets = [match.group(1) for match in LINK.finditer(prose(markdown))]
    return [t for t in targets if not urlsplit(t).scheme and not t.startswith(("#", "//"))]


def test_the_link_finder_sees_links_and_images_and_skips_code() -> None:
    text = (
        "See [a page](docs/a.md#part) and ![a shot](docs/b.png).\n"
        "`[not](in-code.md)` and [web](https://example.org/x.md) and [anchor](#here).\n"
        "```\n[not](in-a-block.md)\n```\n"
    )
    assert relative_links(text) == ["docs/a.md#part", "docs/b.png"]


def test_every_relative_link_in_the_readme_exists() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    links = relative_links(readme)
    assert links, "the README links to its pages"
    missing = [link for link in links if not (PROJECT_ROOT / unquote(urlsplit(link).path)).is_file()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
