"""Personal data in documents at ingestion: redacted before chunking, or found and recorded
per chunk in the document's metadata. Pure functions over a document and a scanner; the
ingestor decides which one a collection's PII mode asks for."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from ingest.loaders import LoadedDocument
from rag.pii import PiiScanner, entity_counts
from rag.storage.records import ChunkSpec


def redacted(document: LoadedDocument, scanner: PiiScanner) -> LoadedDocument:
    """Every entity replaced by ``<TYPE>`` in the text and title, before chunking."""
    results = [scanner.redact_and_find(s.text) for s in document.sections]
    sections = tuple(
        replace(s, text=text) for s, (text, _) in zip(document.sections, results, strict=True)
    )
    findings = [f for _, found in results for f in found]
    metadata = {**document.metadata, "pii": {"redacted": entity_counts(findings)}}
    return replace(
        document, sections=sections, title=scanner.redact(document.title), metadata=metadata
    )


def with_findings(
    document: LoadedDocument, chunks: list[ChunkSpec], scanner: PiiScanner
) -> LoadedDocument:
    """The entity types found, per document and per chunk ordinal, in the metadata."""
    per_chunk = {str(c.ordinal): entity_counts(scanner.find(c.text)) for c in chunks}
    totals: Counter[str] = Counter()
    for counts in per_chunk.values():
        totals.update(counts)
    found = {
        "entities": dict(sorted(totals.items())),
        "chunks": {k: v for k, v in per_chunk.items() if v},
    }
    return replace(document, metadata={**document.metadata, "pii": found})
