"""The ingestion pipeline: files -> documents -> chunks -> embeddings -> one transaction each
group -> FAISS.

Chunks of many documents are gathered into one embedding call (the encoder batches by
length far better than per document) and one DB transaction. Unchanged documents (same
content hash and pipeline signature) cost a dictionary lookup; unchanged chunks of a changed
document reuse their stored embedding.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ingest.background import OrderedWorker
from ingest.chunking import Chunker, make_chunker, pipeline_signature
from ingest.loaders import LoadedDocument, count_units, load_bytes, load_path, size_error
from ingest.personal_data import redacted, with_findings
from rag.embedding import Embedder
from rag.errors import DocumentError, NotFoundError
from rag.pii import PiiMode, PiiScanner, shared_scanner
from rag.settings import Settings
from rag.storage import store
from rag.storage.knowledge_base import KnowledgeBase
from rag.storage.records import ChunkSpec, DocumentRecord
from rag.storage.vector_cache import vector_bytes

log = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestProgress:
    """Snapshot handed to the progress callback after every step."""

    done: int
    total: int
    summary: IngestSummary  # the running counters (shared, updated as the batch goes)
    current: str = ""

    @property
    def chunks(self) -> int:
        return self.summary.chunks_written


@dataclass(slots=True)
class FileError:
    source: str
    error: str
    message: str


@dataclass(slots=True)
class IngestSummary:
    collection: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    deleted: int = 0
    chunks_written: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    seconds: float = 0.0
    errors: list[FileError] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ProgressCallback = Callable[[IngestProgress], None]


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file handed over in memory (API uploads)."""

    name: str
    data: bytes
    source: str


@dataclass(slots=True)
class PendingDocument:
    document: LoadedDocument
    chunks: list[ChunkSpec]
    is_update: bool
    signature: str


def discover_files(paths: Sequence[Path]) -> tuple[list[Path], list[FileError]]:
    """Expand directories (recursively, sorted, skipping hidden entries)."""
    files: list[Path] = []
    errors: list[FileError] = []
    for raw in paths:
        path = raw.expanduser()
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                files.extend(
                    Path(root, n).resolve() for n in sorted(names) if not n.startswith(".")
                )
        elif path.is_file():
            files.append(path.resolve())
        else:
            errors.append(FileError(str(path), "NotFoundError", "no such file or directory"))
    return list(dict.fromkeys(files)), errors


def count_ingest_units(paths: Sequence[Path]) -> int:
    """How many documents (files, or rows of a BEIR corpus) ``paths`` hold: the progress
    total."""
    files, missing = discover_files(paths)
    return sum(count_units(f) for f in files) + len(missing)


class Ingestor:
    """Runs ingestion batches against one knowledge base with one embedder."""

    def __init__(self, kb: KnowledgeBase, embedder: Embedder, settings: Settings) -> None:
        self.kb = kb
        self.embedder = embedder
        self.settings = settings
        self.chunker: Chunker = make_chunker(
            chunk_tokens=settings.chunking.chunk_tokens,
            chunk_overlap=settings.chunking.chunk_overlap,
            max_seq_length=embedder.max_seq_length,
            tokens=embedder.tokens,
        )
        self.signature = pipeline_signature(self.chunker.config, embedder.name)

    # --- public entry points -------------------------------------------------------------

    def ingest_paths(
        self,
        paths: Sequence[Path],
        *,
        collection: str | None = None,
        prune: bool = False,
        progress: ProgressCallback | None = None,
        pii: PiiMode | None = None,
    ) -> IngestSummary:
        """``pii``: this collection's PII mode from now on (None: the one it has)."""
        collection = collection or self.settings.default_collection
        pii_mode = self.pii_mode(collection, pii)
        files, missing = discover_files(paths)
        total = sum(count_units(f) for f in files) + len(missing)
        max_bytes = self.settings.ingest.max_file_bytes

        def documents() -> Iterator[LoadedDocument | DocumentError]:
            for file in files:
                yield from load_path(file, max_bytes=max_bytes)

        summary, seen = self._run(
            documents(),
            collection=collection,
            total=total,
            progress=progress,
            initial_errors=missing,
            pii=pii_mode,
        )
        if prune:
            roots = [str(p.expanduser().resolve()) for p in paths if p.exists()]
            summary.deleted = prune_vanished(self.kb, collection, roots, seen)
        self.kb.save_vectors()
        return summary

    def ingest_uploads(
        self,
        uploads: Sequence[UploadedFile],
        *,
        collection: str | None = None,
        progress: ProgressCallback | None = None,
        pii: PiiMode | None = None,
    ) -> IngestSummary:
        collection = collection or self.settings.default_collection
        pii_mode = self.pii_mode(collection, pii)
        max_bytes = self.settings.ingest.max_file_bytes

        def documents() -> Iterator[LoadedDocument | DocumentError]:
            for upload in uploads:
                problem = size_error(len(upload.data), max_bytes=max_bytes, source=upload.source)
                if problem is not None:
                    yield problem
                else:
                    yield from load_bytes(
                        upload.data, source=upload.source, origin=upload.source, name=upload.name
                    )

        summary, _ = self._run(
            documents(), collection=collection, total=len(uploads), progress=progress,
            initial_errors=[], pii=pii_mode,
        )  # fmt: skip
        self.kb.save_vectors()
        return summary

    # --- the loop ------------------------------------------------------------------------

    def _run(
        self,
        documents: Iterable[LoadedDocument | DocumentError],
        *,
        collection: str,
        total: int,
        progress: ProgressCallback | None,
        initial_errors: list[FileError],
        pii: PiiMode = PiiMode.OFF,
    ) -> tuple[IngestSummary, set[str]]:
        """Ingest ``documents``; returns the summary and every source seen (for pruning)."""
        started = time.perf_counter()
        self.kb.ensure_embedding_model(self.embedder)
        summary = IngestSummary(collection=collection)
        summary.errors.extend(initial_errors)
        summary.failed = len(initial_errors)
        known = self._known_documents(collection)
        seen: set[str] = set()
        pending: list[PendingDocument] = []
        pending_chunks = 0
        done = len(initial_errors)
        group_size = self.settings.ingest.embed_group_chunks

        def report(current: str) -> None:
            if progress is not None:
                progress(IngestProgress(done=done, total=total, summary=summary, current=current))

        writer: OrderedWorker[list[PendingDocument]] = OrderedWorker(
            lambda group: self._write_group(group, collection, summary), name="ingest-writer"
        )

        def flush() -> None:
            nonlocal pending, pending_chunks
            if pending:
                writer.submit(pending)
                pending, pending_chunks = [], 0

        with writer:  # this group embeds and writes while the next one loads
            for item in documents:
                # A file that failed to load still exists: never prune its documents.
                seen.add(item.source)
                prepared = self.prepare(item, known, pii=pii)
                if prepared is None:
                    summary.unchanged += 1
                elif isinstance(prepared, FileError):
                    summary.failed += 1
                    summary.errors.append(prepared)
                else:
                    pending.append(prepared)
                    pending_chunks += len(prepared.chunks)
                    if pending_chunks >= group_size:
                        flush()
                done += 1
                report(item.source)
            flush()
        summary.seconds = round(time.perf_counter() - started, 3)
        report("")
        return summary, seen

    def prepare(
        self,
        item: LoadedDocument | DocumentError,
        known: dict[str, tuple[str, str]],
        *,
        pii: PiiMode = PiiMode.OFF,
    ) -> PendingDocument | FileError | None:
        """The chunks to write, the reason there are none, or None when unchanged."""
        if isinstance(item, DocumentError):
            return FileError(item.source, type(item).__name__, item.reason)
        # The PII mode is part of the pipeline: changing it re-processes the documents.
        signature = self.signature if pii is PiiMode.OFF else f"{self.signature}+pii-{pii}"
        previous = known.get(item.source)
        if previous == (item.content_hash, signature):
            return None
        document = redacted(item, self._scanner()) if pii is PiiMode.REDACT else item
        chunks = self.chunker.chunk(document)
        if not chunks:
            return FileError(item.source, "EmptyDocumentError", "no text left after chunking")
        if pii is PiiMode.DETECT:
            document = with_findings(document, chunks, self._scanner())
        return PendingDocument(
            document, chunks, is_update=previous is not None, signature=signature
        )

    # --- personal data ---------------------------------------------------------------------

    def pii_mode(self, collection: str, chosen: PiiMode | None) -> PiiMode:
        """The collection's PII mode: ``chosen`` (then recorded for the collection), else
        the one it was last ingested with, else the settings' default."""
        key = store.PII_MODE_PREFIX + collection
        if chosen is not None:
            with self.kb.write_session.begin() as session:
                store.set_state(session, key=key, value=str(chosen))
            return chosen
        with self.kb.read_session() as session:
            recorded = store.get_state(session, key=key)
        return PiiMode(recorded or self.settings.ingest.pii)

    def _scanner(self) -> PiiScanner:
        ingest = self.settings.ingest
        return shared_scanner(cache_dir=ingest.pii_cache_dir, spacy_model=ingest.pii_spacy_model)

    def _known_documents(self, collection: str) -> dict[str, tuple[str, str]]:
        with self.kb.read_session() as session:
            return store.document_fingerprints(session, collection=collection)

    def _reusable_embeddings(self, hashes: set[str]) -> dict[str, bytes]:
        """Stored embeddings of identical chunk texts made by the same model."""
        with self.kb.read_session() as session:
            return store.embeddings_by_chunk_hash(
                session, hashes=sorted(hashes), model=self.embedder.name
            )

    def _write_group(
        self, pending: list[PendingDocument], collection: str, summary: IngestSummary
    ) -> None:
        embeddings = self.embed(pending, summary)
        result = self.kb.write_documents(self.records(pending, embeddings, collection))
        summary.chunks_written += len(result.added_chunk_ids)
        for item in pending:
            if item.is_update:
                summary.updated += 1
            else:
                summary.added += 1

    def embed(self, pending: Sequence[PendingDocument], summary: IngestSummary) -> dict[str, bytes]:
        """chunk content hash -> embedding bytes for every chunk of ``pending``: stored ones
        reused, the others encoded in one call."""
        hashes = {c.content_hash for p in pending for c in p.chunks}
        embeddings = self._reusable_embeddings(hashes)
        summary.chunks_reused += sum(
            1 for p in pending for c in p.chunks if c.content_hash in embeddings
        )
        missing: dict[str, str] = {}
        for item in pending:
            for chunk in item.chunks:
                if chunk.content_hash not in embeddings:
                    missing.setdefault(chunk.content_hash, chunk.text)
        if missing:
            vectors = self.embedder.encode(list(missing.values()))
            summary.chunks_embedded += len(missing)
            for key, vector in zip(missing, vectors, strict=True):
                embeddings[key] = vector_bytes(vector)
        return embeddings

    def records(
        self, pending: Sequence[PendingDocument], embeddings: dict[str, bytes], collection: str
    ) -> list[DocumentRecord]:
        return [
            DocumentRecord(
                collection=collection,
                document=item.document,  # a LoadedDocument is the DocumentInfo it carries
                pipeline_signature=item.signature,
                chunks=tuple(item.chunks),
                embeddings=tuple(embeddings[c.content_hash] for c in item.chunks),
            )
            for item in pending
        ]


def prune_vanished(kb: KnowledgeBase, collection: str, roots: list[str], seen: set[str]) -> int:
    """Delete the collection's documents read from under ``roots`` whose source was not
    ``seen`` in this run (their file is gone); returns how many."""
    with kb.read_session() as session:
        try:
            collection_row = store.get_collection(session, name=collection)
        except NotFoundError:
            return 0
        candidates = store.documents_by_origin(
            session, collection_id=collection_row.id, origins=roots
        )
    stale = [doc_id for doc_id, source, _ in candidates if source not in seen]
    return kb.delete_documents(stale, save=False)
