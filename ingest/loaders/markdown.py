"""Markdown split at ATX headings (outside code fences)."""

from __future__ import annotations

import re

from ingest.loaders.document import Section, SectionCollector

_ATX_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def markdown_sections(text: str) -> list[Section]:
    """Sections at ATX headings; each heading's path like 'A > B'."""
    collector = SectionCollector()
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _ATX_HEADING.match(line)
        if match:
            collector.heading(len(match.group(1)), match.group(2).strip(), line=line)
        else:
            collector.add(line)
    collector.flush()
    return collector.sections
