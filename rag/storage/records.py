"""The shapes that cross from ingestion into the store: a document's identity and facts, its
chunks, and the record written in one transaction. Pure data, no SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentInfo:
    """What the store keeps about a document besides its chunks."""

    source: str  # identity within the collection: a file path, an upload name, a BEIR _id
    origin: str  # the file it was read from (pruning finds vanished sources by it)
    title: str
    mime_type: str
    size_bytes: int
    content_hash: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChunkSpec:
    """A chunk's text and place in its document (offsets into the document's text)."""

    ordinal: int
    text: str
    token_count: int
    char_start: int
    char_end: int
    page: int | None
    section: str | None
    content_hash: str


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """A document ready to be written: its chunks and one embedding (float32 bytes) each."""

    collection: str
    document: DocumentInfo
    pipeline_signature: str
    chunks: tuple[ChunkSpec, ...]
    embeddings: tuple[bytes, ...]
