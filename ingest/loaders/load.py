"""The loading entry points: a file or an upload's bytes -> documents or specific errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ingest.loaders.beir import beir_documents
from ingest.loaders.detect import (
    MIME_BEIR,
    MIME_DOCX,
    MIME_HTML,
    MIME_MARKDOWN,
    MIME_PDF,
    detect_mime,
)
from ingest.loaders.document import LoadedDocument, Section, sha256_hex
from ingest.loaders.docx import docx_sections
from ingest.loaders.html import html_sections
from ingest.loaders.markdown import markdown_sections
from ingest.loaders.pdf import pdf_sections
from ingest.loaders.text import decode_text, first_line_title
from rag.errors import DocumentError, EmptyDocumentError, FileTooLargeError, UnsupportedFileError


def count_units(path: Path) -> int:
    """How many documents a file will yield (for progress totals): lines for JSONL."""
    if path.suffix.lower() == ".jsonl":
        try:
            with open(path, "rb") as fh:
                return max(1, sum(1 for line in fh if line.strip()))
        except OSError:
            return 1
    return 1


def load_bytes(
    data: bytes, *, source: str, origin: str, name: str
) -> Iterator[LoadedDocument | DocumentError]:
    """Parse one file's bytes into documents (many for a BEIR corpus, else one)."""
    try:
        mime = detect_mime(data, name)
        if mime == MIME_BEIR:
            yield from beir_documents(decode_text(data, source), origin=origin)
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
            title = first_line_title(text)
        else:
            text = decode_text(data, source).strip()
            sections = [Section(text=text)] if text else []
            title = first_line_title(text)
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
