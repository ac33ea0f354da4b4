"""Loaders: bytes on disk -> ``LoadedDocument`` (text split into sections with page/heading).

The type is detected from the content (magic bytes, markup, JSON shape); the extension only
breaks ties between plain text flavours. Every failure is a specific ``DocumentError``.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import (
    CorruptFileError,
    DecodeError,
    DocumentError,
    EmptyDocumentError,
    FileTooLargeError,
    UnsupportedFileError,
)

SECTION_SEPARATOR = "\n\n"

MIME_TEXT = "text/plain"
MIME_MARKDOWN = "text/markdown"
MIME_HTML = "text/html"
MIME_PDF = "application/pdf"
MIME_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MIME_BEIR = "application/x-beir-corpus+jsonl"

TEXT_EXTENSIONS = {".txt", ".text", ".md", ".markdown", ".html", ".htm", ".jsonl", ".rst", ""}
MARKDOWN_EXTENSIONS = {".md", ".markdown"}


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text with its place in the document."""

    text: str
    page: int | None = None
    heading: str | None = None


@dataclass(frozen=True, slots=True)
class LoadedDocument:
    source: str
    origin: str
    title: str
    mime_type: str
    size_bytes: int
    content_hash: str
    sections: tuple[Section, ...]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return SECTION_SEPARATOR.join(s.text for s in self.sections)


LoadResult = LoadedDocument | DocumentError


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- type detection --------------------------------------------------------------------------


def _encoding_of(data: bytes) -> tuple[str, bytes]:
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8", data[3:]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", data
    return "utf-8", data


def decode_text(data: bytes, source: str, *, partial: bool = False) -> str:
    """Decode UTF-8 (with or without BOM) or BOM-marked UTF-16; refuse binary data.

    ``partial`` decodes a prefix sample: a multi-byte character cut at its end is fine.
    """
    encoding, body = _encoding_of(data)
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(body, final=not partial)
    except UnicodeDecodeError as exc:
        raise DecodeError(
            source,
            f"not valid {encoding.upper()} text (bad byte at offset {exc.start}); save it as UTF-8",
        ) from exc
    if "\x00" in text:
        raise DecodeError(source, "contains NUL bytes: binary data, not text")
    return text


def _looks_like_html(text: str) -> bool:
    head = text.lstrip()[:1024].lower()
    return head.startswith(("<!doctype html", "<html")) or bool(
        re.search(r"<(html|head|body)[\s>]", head)
    )


def _looks_like_beir(text: str) -> bool:
    for line in text.splitlines():
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                return False
            return isinstance(row, dict) and "_id" in row
    return False


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def detect_mime(data: bytes, name: str) -> str:
    """Decide the type from the content; raises for binary data we cannot read."""
    suffix = Path(name).suffix.lower()
    if data.startswith(b"%PDF-"):
        return MIME_PDF
    if suffix == ".pdf":
        raise CorruptFileError(name, "named .pdf but has no PDF header (%PDF-)")
    if data.startswith(b"PK\x03\x04"):
        if _is_docx(data):
            return MIME_DOCX
        raise UnsupportedFileError(name, "a ZIP archive that is not a DOCX document")
    if suffix == ".docx":
        raise CorruptFileError(name, "named .docx but is not a DOCX (ZIP) document")
    try:
        text = decode_text(data[:65536], name, partial=True)
    except DecodeError as exc:
        if suffix not in TEXT_EXTENSIONS:
            raise UnsupportedFileError(
                name,
                f"unsupported file type '{suffix}': not PDF, DOCX, HTML, Markdown, text or "
                "BEIR JSONL",
            ) from exc
        raise
    if suffix == ".jsonl" and _looks_like_beir(text):
        return MIME_BEIR
    if suffix in {".html", ".htm"} or _looks_like_html(text):
        return MIME_HTML
    if suffix in MARKDOWN_EXTENSIONS:
        return MIME_MARKDOWN
    return MIME_TEXT


# --- per-format parsers (pure functions over bytes/text) -----------------------------------

_ATX_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def markdown_sections(text: str) -> list[Section]:
    """Split Markdown at ATX headings (outside code fences); heading path like 'A > B'."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    buffer: list[str] = []
    heading: str | None = None
    in_fence = False

    def flush() -> None:
        body = "\n".join(buffer).strip()
        if body:
            sections.append(Section(text=body, heading=heading))

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _ATX_HEADING.match(line)
        if match:
            flush()
            buffer = [line]
            level, title = len(match.group(1)), match.group(2).strip()
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, title)]
            heading = " > ".join(t for _, t in path)
        else:
            buffer.append(line)
    flush()
    return sections


_HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_BLOCK_TAGS = {
    "p", "div", "li", "pre", "blockquote", "td", "th", "tr", "dd", "dt", "section",
    "article", "br", "table", "ul", "ol", "header", "footer", "main", "figcaption",
}  # fmt: skip


def html_sections(html: str, source: str) -> tuple[str, list[Section]]:
    """Visible text of an HTML page split at h1-h6 headings. Returns (title, sections)."""
    from bs4 import BeautifulSoup

    try:
        soup = BeautifulSoup(html, "html.parser")
        for tag in soup(["script", "style", "noscript", "template", "svg", "head"]):
            if tag.name == "head":
                continue
            tag.decompose()
        title_tag = soup.find("title")
        title = title_tag.get_text(" ", strip=True) if title_tag else ""
        if soup.head is not None:
            soup.head.decompose()
        sections: list[Section] = []
        path: list[tuple[int, str]] = []
        heading: str | None = None
        buffer: list[str] = []
        heading_strings: set[int] = set()

        def flush() -> None:
            body = re.sub(r"[ \t]*\n[ \t\n]*", "\n", "".join(buffer)).strip()
            body = re.sub(r"[ \t]{2,}", " ", body)
            if body:
                sections.append(Section(text=body, heading=heading))

        # Iterative walk: deeply nested pages must not hit the recursion limit.
        for node in soup.descendants:
            name = getattr(node, "name", None)
            if name in _HEADING_TAGS:
                flush()
                text = node.get_text(" ", strip=True)
                level = int(name[1])
                path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, text)]
                heading = " > ".join(t for _, t in path)
                buffer = [text + "\n"]
                heading_strings.update(id(s) for s in node.strings)  # type: ignore[attr-defined]
            elif name is None:
                if id(node) not in heading_strings and type(node).__name__ == "NavigableString":
                    buffer.append(str(node))
            elif name in _BLOCK_TAGS:
                buffer.append("\n")
        flush()
    except RecursionError as exc:
        raise CorruptFileError(source, "HTML nested too deeply to parse") from exc
    if not title:
        title = next((s.heading for s in sections if s.heading), "") or ""
    return title, sections


def pdf_sections(data: bytes, source: str) -> tuple[str, list[Section]]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception as exc:
                raise CorruptFileError(source, "encrypted PDF (a password is needed)") from exc
        sections = []
        for number, page in enumerate(reader.pages, start=1):
            text = (page.extract_text() or "").strip()
            if text:
                sections.append(Section(text=text, page=number))
        meta_title = ""
        try:
            meta = reader.metadata
            meta_title = str(meta.title) if meta and meta.title else ""
        except Exception:  # a broken info dictionary is not worth failing the file for
            meta_title = ""
    except FileNotDecryptedError as exc:
        raise CorruptFileError(source, "encrypted PDF (a password is needed)") from exc
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise CorruptFileError(source, f"unreadable PDF ({type(exc).__name__}: {exc})") from exc
    except RecursionError as exc:
        raise CorruptFileError(source, "unreadable PDF (structure nested too deeply)") from exc
    return meta_title, sections


def docx_sections(data: bytes, source: str) -> tuple[str, list[Section]]:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises a zoo of types for broken archives
        raise CorruptFileError(source, f"unreadable DOCX ({type(exc).__name__})") from exc
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    heading: str | None = None
    buffer: list[str] = []

    def flush() -> None:
        body = "\n".join(buffer).strip()
        if body:
            sections.append(Section(text=body, heading=heading))

    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        level_match = re.match(r"Heading (\d)", style)
        if style == "Title" or level_match:
            flush()
            level = int(level_match.group(1)) if level_match else 0
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, text)]
            heading = " > ".join(t for _, t in path if t)
            buffer = [text]
        elif text:
            buffer.append(text)
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                buffer.append(" | ".join(cells))
    flush()
    title = document.core_properties.title or ""
    if not title:
        title = next((s.heading for s in sections if s.heading), "") or ""
    return title, sections


def _first_line_title(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip().lstrip("#").strip()
        if stripped:
            return stripped[:200]
    return ""


# --- entry point ---------------------------------------------------------------------------


def count_units(path: Path) -> int:
    """How many documents a file will yield (for progress totals): lines for JSONL."""
    if path.suffix.lower() == ".jsonl":
        try:
            with open(path, "rb") as fh:
                return max(1, sum(1 for line in fh if line.strip()))
        except OSError:
            return 1
    return 1


def _beir_documents(
    text: str, *, origin: str, size_bytes: int
) -> Iterator[LoadedDocument | DocumentError]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{origin}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield CorruptFileError(where, f"invalid JSON ({exc.msg})")
            continue
        if not isinstance(row, dict) or "_id" not in row:
            yield CorruptFileError(where, "a BEIR corpus row needs an '_id' field")
            continue
        title = str(row.get("title") or "").strip()
        body = str(row.get("text") or "").strip()
        if not body and not title:
            yield EmptyDocumentError(where, f"row '{row['_id']}' has no title or text")
            continue
        sections = tuple(Section(text=part) for part in (title, body) if part)
        extra = row.get("metadata")
        metadata: dict[str, Any] = {"beir_id": str(row["_id"])}
        if isinstance(extra, dict) and extra:
            metadata["corpus_metadata"] = extra
        yield LoadedDocument(
            source=str(row["_id"]),
            origin=origin,
            title=title or str(row["_id"]),
            mime_type=MIME_BEIR,
            size_bytes=len(line.encode()),
            content_hash=sha256_hex(line.encode()),
            sections=sections,
            metadata=metadata,
        )
    del size_bytes


def load_bytes(
    data: bytes, *, source: str, origin: str, name: str
) -> Iterator[LoadedDocument | DocumentError]:
    """Parse one file's bytes into documents (many for a BEIR corpus, else one)."""
    try:
        mime = detect_mime(data, name)
        if mime == MIME_BEIR:
            yield from _beir_documents(
                decode_text(data, source), origin=origin, size_bytes=len(data)
            )
            return
        title = ""
        if mime == MIME_PDF:
            title, sections = pdf_sections(data, source)
        elif mime == MIME_DOCX:
            title, sections = docx_sections(data, source)
        elif mime == MIME_HTML:
            title, sections = html_sections(decode_text(data, source), source)
        elif mime == MIME_MARKDOWN:
            text = decode_text(data, source)
            sections = markdown_sections(text)
            title = _first_line_title(text)
        else:
            text = decode_text(data, source).strip()
            sections = [Section(text=text)] if text else []
            title = _first_line_title(text)
        if not sections:
            hint = " (a scanned PDF without a text layer?)" if mime == MIME_PDF else ""
            raise EmptyDocumentError(source, f"no extractable text{hint}")
        yield LoadedDocument(
            source=source,
            origin=origin,
            title=(title or Path(name).stem)[:1024],
            mime_type=mime,
            size_bytes=len(data),
            content_hash=sha256_hex(data),
            sections=tuple(sections),
            metadata={"filename": Path(name).name},
        )
    except DocumentError as exc:
        yield exc


def size_error(size: int, *, max_bytes: int, source: str) -> DocumentError | None:
    """The error for a file too large or empty to load, checked before anything is parsed."""
    if size > max_bytes:
        return FileTooLargeError(source, f"{size} bytes exceeds the {max_bytes}-byte limit")
    if size == 0:
        return EmptyDocumentError(source, "empty file")
    return None


def load_path(path: Path, *, max_bytes: int) -> Iterator[LoadedDocument | DocumentError]:
    """Read a file from disk (size-capped before reading) and parse it."""
    source = str(path)
    try:
        problem = size_error(path.stat().st_size, max_bytes=max_bytes, source=source)
        if problem is not None:
            yield problem
            return
        data = path.read_bytes()
    except OSError as exc:
        yield UnsupportedFileError(source, f"cannot read file ({exc.strerror or exc})")
        return
    yield from load_bytes(data, source=source, origin=source, name=path.name)
