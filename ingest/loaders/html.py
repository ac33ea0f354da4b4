"""Visible text of an HTML page, split at h1-h6 headings."""

from __future__ import annotations

import re

from ingest.loaders.document import Section, SectionCollector
from rag.errors import CorruptFileError

_HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_BLOCK_TAGS = {
    "p", "div", "li", "pre", "blockquote", "td", "th", "tr", "dd", "dt", "section",
    "article", "br", "table", "ul", "ol", "header", "footer", "main", "figcaption",
}  # fmt: skip


def _clean(body: str) -> str:
    body = re.sub(r"[ \t]*\n[ \t\n]*", "\n", body).strip()
    return re.sub(r"[ \t]{2,}", " ", body)


def html_sections(html: str, source: str) -> tuple[str, list[Section]]:
    """Returns (title, sections); scripts, styles and the head are dropped."""
    from bs4 import BeautifulSoup

    try:
        soup = BeautifulSoup(html, "html.parser")
        for tag in soup(["script", "style", "noscript", "template", "svg"]):
            tag.decompose()
        title_tag = soup.find("title")
        title = title_tag.get_text(" ", strip=True) if title_tag else ""
        if soup.head is not None:
            soup.head.decompose()
        collector = SectionCollector(join="")
        heading_strings: set[int] = set()
        # Iterative walk: deeply nested pages must not hit the recursion limit.
        for node in soup.descendants:
            name = getattr(node, "name", None)
            if name in _HEADING_TAGS:
                collector.flush(_clean)
                text = node.get_text(" ", strip=True)
                collector.heading(int(name[1]), text, line=text + "\n")
                heading_strings.update(id(s) for s in node.strings)  # type: ignore[attr-defined]
            elif name is None:
                if id(node) not in heading_strings and type(node).__name__ == "NavigableString":
                    collector.add(str(node))
            elif name in _BLOCK_TAGS:
                collector.add("\n")
        collector.flush(_clean)
    except RecursionError as exc:
        raise CorruptFileError(source, "HTML nested too deeply to parse") from exc
    return title or collector.first_heading(), collector.sections
