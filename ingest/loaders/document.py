"""What every loader produces: a document of sections, each with its page or heading."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from rag.storage.records import DocumentInfo

SECTION_SEPARATOR = "\n\n"


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text with its place in the document."""

    text: str
    page: int | None = None
    heading: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedDocument(DocumentInfo):
    """A document as read: the facts the store keeps, and its text as sections."""

    sections: tuple[Section, ...]

    @property
    def text(self) -> str:
        return SECTION_SEPARATOR.join(s.text for s in self.sections)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SectionCollector:
    """Body text gathered under the current heading path ('A > B'), one section per
    heading. Markdown, HTML and DOCX each feed it in their own walk."""

    def __init__(self, *, join: str = "\n") -> None:
        self.sections: list[Section] = []
        self._join = join
        self._path: list[tuple[int, str]] = []
        self._heading: str | None = None
        self._buffer: list[str] = []

    def heading(self, level: int, title: str, *, line: str | None = None) -> None:
        """Close the running section and open one under ``title`` at ``level``; the
        heading's own line (``line``, default the title) starts its body."""
        self.flush()
        self._path = [(lvl, t) for lvl, t in self._path if lvl < level] + [(level, title)]
        self._heading = " > ".join(t for _, t in self._path if t)
        self._buffer = [title if line is None else line]

    def add(self, text: str) -> None:
        self._buffer.append(text)

    def flush(self, clean: Callable[[str], str] = str.strip) -> None:
        body = clean(self._join.join(self._buffer))
        if body:
            self.sections.append(Section(text=body, heading=self._heading))
        self._buffer = []

    def first_heading(self) -> str:
        return next((s.heading for s in self.sections if s.heading), "") or ""
