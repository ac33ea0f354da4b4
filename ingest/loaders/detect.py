"""Type detection from the content (magic bytes, markup, JSON shape); the extension only
breaks ties between plain-text flavours."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

from ingest.loaders.text import decode_text
from rag.errors import CorruptFileError, DecodeError, UnsupportedFileError

MIME_TEXT = "text/plain"
MIME_MARKDOWN = "text/markdown"
MIME_HTML = "text/html"
MIME_PDF = "application/pdf"
MIME_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MIME_BEIR = "application/x-beir-corpus+jsonl"

TEXT_EXTENSIONS = {".txt", ".text", ".md", ".markdown", ".html", ".htm", ".jsonl", ".rst", ""}
MARKDOWN_EXTENSIONS = {".md", ".markdown"}


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


def _binary_mime(data: bytes, name: str, suffix: str) -> str | None:
    """PDF or DOCX by their magic bytes; a file named so without them is refused."""
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
    return None


def detect_mime(data: bytes, name: str) -> str:
    """Decide the type from the content; raises for binary data we cannot read."""
    suffix = Path(name).suffix.lower()
    binary = _binary_mime(data, name, suffix)
    if binary is not None:
        return binary
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
