"""The knowledge base: SQL store (source of truth) + FTS (same transactions) + FAISS (derived).

Every write goes: one SQL transaction (documents, chunks, FTS, generation bump, and the
chunk ids it added and removed in the change log), then the in-memory FAISS patch, then an
atomic save. The FAISS cache (``rag.storage.vector_cache``) catches up from the change log
when it is behind the database.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from rag.embedding import Embedder
from rag.errors import EmbeddingModelMismatchError
from rag.settings import Settings
from rag.storage import answer_log, store
from rag.storage.lexical import LexicalIndex, lexical_index_for
from rag.storage.models import Chunk, Collection, Document, DocumentStatus
from rag.storage.records import DocumentRecord
from rag.storage.schema import upgrade_schema
from rag.storage.vector_cache import DenseIndex, VectorCache, vector_bytes, vectors_from_bytes
from rag.storage.vector_index import FaissIndex

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WriteResult:
    document_ids: list[int]
    added_chunk_ids: list[int]
    removed_chunk_ids: list[int]
    generation: int


@dataclass(slots=True)
class StoreStats:
    collections: int
    documents: int
    chunks: int
    generation: int
    faiss_vectors: int
    embedding_model: str | None
    embedding_dim: int | None
    vector_index: str = "flat"  # or "approximate"
    per_collection: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """Counts read in one snapshot, with the FAISS cache brought to that snapshot: cheap at
    any size (no id sets), for readiness probes. The full comparison is ``rag doctor``."""

    generation: int
    chunks: int
    faiss_vectors: int
    fts_rows: int | None  # None: the full-text index lives in the chunk rows themselves
    embedding_model: str | None


class KnowledgeBase:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = store.make_engine(settings.resolved_database_url)
        upgrade_schema(self.engine)
        self.lexical: LexicalIndex = lexical_index_for(self.engine)
        self.read_session: sessionmaker[Session] = store.make_session_factory(self.engine)
        self.snapshot_session = store.make_snapshot_session_factory(self.engine)
        self.write_session: sessionmaker[Session] = store.make_session_factory(
            self.engine, write=True
        )
        self.vector_cache = VectorCache(settings.faiss_path, settings.store, self.read_session)

    def close(self) -> None:
        self.engine.dispose()

    # --- embedding model guard ----------------------------------------------------------

    def stored_embedding_model(self) -> tuple[str, int] | None:
        with self.read_session() as session:
            name = store.get_state(session, key=store.EMBEDDING_MODEL_KEY)
            dim = store.get_state(session, key=store.EMBEDDING_DIM_KEY)
        if name is None or dim is None:
            return None
        return name, int(dim)

    def check_embedding_model(self, embedder: Embedder) -> None:
        """Refuse to search vectors of another model (or backend) with ``embedder``'s."""
        stored = self.stored_embedding_model()
        if stored is not None and stored != (embedder.name, embedder.dim):
            raise EmbeddingModelMismatchError(*stored, embedder.name, embedder.dim)

    def ensure_embedding_model(self, embedder: Embedder) -> None:
        """Record the model on first use; refuse a different one afterwards."""
        with self.write_session.begin() as session:
            name = store.get_state(session, key=store.EMBEDDING_MODEL_KEY)
            dim = store.get_state(session, key=store.EMBEDDING_DIM_KEY)
            if name is None or dim is None or store.chunk_count(session) == 0:
                store.set_state(session, key=store.EMBEDDING_MODEL_KEY, value=embedder.name)
                store.set_state(session, key=store.EMBEDDING_DIM_KEY, value=str(embedder.dim))
                if dim is None or int(dim) != embedder.dim:
                    self.vector_cache.forget()  # an empty cache of the wrong width
                return
            if name != embedder.name or int(dim) != embedder.dim:
                raise EmbeddingModelMismatchError(name, int(dim), embedder.name, embedder.dim)

    def reembed_all(self, embedder: Embedder, *, batch: int = 512) -> int:
        """Re-encode every chunk with ``embedder`` in one transaction, then rebuild FAISS."""
        return self.reembed(embedder, chunk_ids=None, batch=batch)

    def reembed(
        self, embedder: Embedder, *, chunk_ids: Sequence[int] | None, batch: int = 512
    ) -> int:
        """Re-encode the given chunks (all when None) and record ``embedder`` as the store's
        model, in one transaction; then rebuild FAISS."""
        with self.write_session.begin() as session:
            query = select(Chunk.id, Chunk.text).order_by(Chunk.id)
            if chunk_ids is not None:
                query = query.where(Chunk.id.in_(list(chunk_ids)))
            rows = session.execute(query).all()
            for start in range(0, len(rows), batch):
                part = rows[start : start + batch]
                vectors = embedder.encode([r[1] for r in part])
                for (chunk_id, _), vector in zip(part, vectors, strict=True):
                    session.execute(
                        update(Chunk)
                        .where(Chunk.id == chunk_id)
                        .values(embedding=vector_bytes(vector), embedding_model=embedder.name)
                    )
            store.set_state(session, key=store.EMBEDDING_MODEL_KEY, value=embedder.name)
            store.set_state(session, key=store.EMBEDDING_DIM_KEY, value=str(embedder.dim))
            ids = [int(r[0]) for r in rows]
            if chunk_ids is None:  # every vector changed: other processes rebuild
                store.commit_changes(session, retain=self._retain, log_covers=False)
            else:
                store.commit_changes(session, added=ids, removed=ids, retain=self._retain)
        self.rebuild_vectors()
        return len(rows)

    @property
    def _retain(self) -> int:
        return self.settings.store.change_log_generations

    # --- the FAISS cache ----------------------------------------------------------------

    def generation(self) -> int:
        with self.read_session() as session:
            return store.current_generation(session)

    def vectors(self) -> DenseIndex:
        """The FAISS index, current with the DB (see ``VectorCache.sync``)."""
        with self.snapshot_session() as session:
            return self.vector_cache.sync(session)

    def sync_status(self) -> SyncStatus:
        with self.snapshot_session() as session:
            index = self.vector_cache.sync(session)
            return SyncStatus(
                generation=store.current_generation(session),
                chunks=store.counted_chunks(session),
                faiss_vectors=index.size,
                fts_rows=self.lexical.indexed_count(session),
                embedding_model=store.get_state(session, key=store.EMBEDDING_MODEL_KEY),
            )

    def rebuild_vectors(self) -> DenseIndex:
        """Rebuild FAISS from the embeddings in SQL and save it."""
        with self.snapshot_session() as session:
            return self.vector_cache.rebuild(session)

    def save_vectors(self) -> None:
        self.vector_cache.save()

    @property
    def rebuild_count(self) -> int:
        return self.vector_cache.rebuild_count

    @property
    def catch_up_count(self) -> int:
        return self.vector_cache.catch_up_count

    # --- writes ------------------------------------------------------------------------

    def write_documents(self, records: Sequence[DocumentRecord]) -> WriteResult:
        """Insert or replace documents (with their chunks) in one transaction, then patch
        this process's FAISS cache with them."""
        if not records:
            return WriteResult([], [], [], self.generation())
        self.vectors()  # make sure the cache is current before patching it
        result, added_vectors = self._store_documents(records)
        self.vector_cache.apply(
            generation=result.generation,
            removed=result.removed_chunk_ids,
            added_ids=result.added_chunk_ids,
            added_vectors=vectors_from_bytes(added_vectors, self._dim()),
        )
        return result

    def store_documents(self, records: Sequence[DocumentRecord]) -> WriteResult:
        """Insert or replace documents in one transaction without touching this process's
        FAISS cache: for writers that never search (Spark executors). Every cache, here or
        in other processes, catches up through the change log."""
        if not records:
            return WriteResult([], [], [], self.generation())
        return self._store_documents(records)[0]

    def _store_documents(
        self, records: Sequence[DocumentRecord]
    ) -> tuple[WriteResult, list[bytes]]:
        removed: list[int] = []
        added_chunks: list[Chunk] = []
        added_vectors: list[bytes] = []
        document_ids: list[int] = []
        with self.write_session.begin() as session:
            model_name = self._model_name_for_write(session)
            collections: dict[str, Collection] = {}
            for record in records:
                collection = collections.get(record.collection)
                if collection is None:
                    collection = store.get_or_create_collection(session, name=record.collection)
                    collections[record.collection] = collection
                info = record.document
                document = store.find_document(
                    session, collection_id=collection.id, source=info.source
                )
                if document is None:
                    document = Document(collection_id=collection.id, source=info.source)
                    session.add(document)
                else:
                    old = store.chunk_ids_of(session, document_ids=[document.id])
                    removed.extend(old)
                    session.execute(delete(Chunk).where(Chunk.document_id == document.id))
                document.origin = info.origin
                document.title = info.title
                document.mime_type = info.mime_type
                document.size_bytes = info.size_bytes
                document.content_hash = info.content_hash
                document.pipeline_signature = record.pipeline_signature
                document.metadata_ = info.metadata
                document.status = DocumentStatus.READY
                session.flush()
                document_ids.append(document.id)
                for chunk, embedding in zip(record.chunks, record.embeddings, strict=True):
                    # A ChunkSpec's fields are the chunk row's columns.
                    row = Chunk(
                        document_id=document.id,
                        embedding=embedding,
                        embedding_model=model_name,
                        **asdict(chunk),
                    )
                    added_chunks.append(row)
                    added_vectors.append(embedding)
            session.add_all(added_chunks)
            session.flush()
            added_ids = [c.id for c in added_chunks]
            generation = store.commit_changes(
                session, added=added_ids, removed=removed, retain=self._retain
            )
        return WriteResult(document_ids, added_ids, removed, generation), added_vectors

    def _model_name_for_write(self, session: Session) -> str:
        name = store.get_state(session, key=store.EMBEDDING_MODEL_KEY)
        if name is None:
            raise RuntimeError("ensure_embedding_model() must run before writing chunks")
        return name

    def _dim(self) -> int:
        stored = self.stored_embedding_model()
        return stored[1] if stored else 0

    def delete_documents(self, document_ids: Sequence[int], *, save: bool = True) -> int:
        """Delete documents and their chunks (DB + FTS in one transaction, then FAISS)."""
        if not document_ids:
            return 0
        self.vectors()
        with self.write_session.begin() as session:
            existing = list(
                session.scalars(select(Document.id).where(Document.id.in_(list(document_ids))))
            )
            if not existing:
                return 0
            removed = store.chunk_ids_of(session, document_ids=existing)
            answer_log.redact_answers_citing(session, chunk_ids=removed)
            session.execute(delete(Chunk).where(Chunk.document_id.in_(existing)))
            session.execute(delete(Document).where(Document.id.in_(existing)))
            generation = store.commit_changes(session, removed=removed, retain=self._retain)
        self.vector_cache.apply(
            generation=generation, removed=removed, added_ids=[], added_vectors=None
        )
        if save:
            self.save_vectors()
        return len(existing)

    def delete_document(self, document_id: int) -> None:
        with self.read_session() as session:
            store.get_document(session, document_id=document_id)  # raises NotFoundError
        self.delete_documents([document_id])

    def delete_collection(self, name: str) -> None:
        """Delete a collection's documents (as ``delete_documents``), then the collection."""
        with self.read_session() as session:
            collection = store.get_collection(session, name=name)  # raises NotFoundError
            document_ids = store.document_ids_in(session, collection_id=collection.id)
        self.delete_documents(document_ids)
        with self.write_session.begin() as session:
            store.delete_collection_row(session, collection_id=collection.id)

    # --- reads -------------------------------------------------------------------------

    def chunk_ids(self) -> set[int]:
        with self.read_session() as session:
            return {int(i) for i in session.scalars(select(Chunk.id))}

    def stats(self) -> StoreStats:
        with self.read_session() as session:
            per_collection: dict[str, dict[str, int]] = {}
            rows = session.execute(
                select(
                    Collection.name,
                    func.count(func.distinct(Document.id)),
                    func.count(Chunk.id),
                )
                .select_from(Collection)
                .outerjoin(Document, Document.collection_id == Collection.id)
                .outerjoin(Chunk, Chunk.document_id == Document.id)
                .group_by(Collection.name)
                .order_by(Collection.name)
            ).all()
            for name, docs, chunks in rows:
                per_collection[str(name)] = {"documents": int(docs), "chunks": int(chunks)}
            model = store.get_state(session, key=store.EMBEDDING_MODEL_KEY)
            dim = store.get_state(session, key=store.EMBEDDING_DIM_KEY)
            stats = StoreStats(
                collections=len(per_collection),
                documents=store.document_count(session),
                chunks=store.chunk_count(session),
                generation=store.current_generation(session),
                faiss_vectors=0,
                embedding_model=model,
                embedding_dim=int(dim) if dim is not None else None,
                per_collection=per_collection,
            )
        index = self.vectors()
        stats.faiss_vectors = index.size
        stats.vector_index = "flat" if isinstance(index, FaissIndex) else "approximate"
        return stats
