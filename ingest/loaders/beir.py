"""BEIR corpus JSONL: one document per ``{"_id", "title", "text"}`` row, per-row errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ingest.loaders.detect import MIME_BEIR
from ingest.loaders.document import LoadedDocument, Section, sha256_hex
from rag.errors import CorruptFileError, DocumentError, EmptyDocumentError
from rag.jsonl import iter_jsonl


def beir_documents(text: str, *, origin: str) -> Iterator[LoadedDocument | DocumentError]:
    lines = text.splitlines()
    for parsed in iter_jsonl(lines):
        where = f"{origin}:{parsed.line}"
        line = lines[parsed.line - 1]
        if parsed.error is not None:
            yield CorruptFileError(where, parsed.error)
            continue
        row = parsed.value
        if not isinstance(row, dict) or "_id" not in row:
            yield CorruptFileError(where, "a BEIR corpus row needs an '_id' field")
            continue
        title = str(row.get("title") or "").strip()
        body = str(row.get("text") or "").strip()
        if not body and not title:
            yield EmptyDocumentError(where, f"row '{row['_id']}' has no title or text")
            continue
        # The title is the heading of the body: the chunker opens the body's first chunk
        # with it rather than keeping it as a chunk of its own.
        sections = ((Section(text=title, heading=title),) if title else ()) + (
            (Section(text=body),) if body else ()
        )
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
