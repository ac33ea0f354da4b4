"""DOCX split at heading styles; tables appended as ' | '-joined rows."""

from __future__ import annotations

import io
import re

from ingest.loaders.document import Section, SectionCollector
from rag.errors import CorruptFileError


def docx_sections(data: bytes, source: str) -> tuple[str, list[Section]]:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises a zoo of types for broken archives
        raise CorruptFileError(source, f"unreadable DOCX ({type(exc).__name__})") from exc
    collector = SectionCollector()
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        level_match = re.match(r"Heading (\d)", style)
        if style == "Title" or level_match:
            collector.heading(int(level_match.group(1)) if level_match else 0, text)
        elif text:
            collector.add(text)
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                collector.add(" | ".join(cells))
    collector.flush()
    return document.core_properties.title or collector.first_heading(), collector.sections
