"""One process's FAISS cache of the store's embeddings, kept at the database's generation.

The cache is exact (``FaissIndex``) while the store is small and approximate
(``ApproximateIndex``) above ``approximate_above`` chunks. It is brought up to date before
use: kept when current, caught up from the change log when behind (another process wrote,
or a crash came between a commit and the save), loaded from its file, or rebuilt from SQL
when the file is missing, unreadable or older than the log reaches. Writes of this process
patch it directly (``apply``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from rag.settings import StoreSettings
from rag.storage import store
from rag.storage.approximate_index import ApproximateIndex, lists_for, training_size
from rag.storage.models import Chunk
from rag.storage.vector_index import FaissIndex, is_flat, load_index, save_index

DenseIndex = FaissIndex | ApproximateIndex
# Vectors read per round trip when building or patching the cache.
_READ_BATCH = 4096

log = logging.getLogger(__name__)


def vector_bytes(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def vectors_from_bytes(blobs: Sequence[bytes], dim: int) -> np.ndarray:
    if not blobs:
        return np.empty((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim)


class VectorCache:
    def __init__(
        self, path: Path, options: StoreSettings, read_session: sessionmaker[Session]
    ) -> None:
        self.path = path
        self.options = options
        self._read_session = read_session  # for the approximate index's exact re-scoring
        self._index: DenseIndex | None = None
        self.generation = -1
        self._lock = threading.RLock()
        self.rebuild_count = 0
        self.catch_up_count = 0

    def sync(self, session: Session) -> DenseIndex:
        """Bring the cache to the generation ``session`` sees: kept, caught up from the
        change log, loaded from its file or rebuilt from SQL."""
        with self._lock:
            return self._sync(session)

    def _sync(self, session: Session) -> DenseIndex:
        db_generation = store.current_generation(session)
        dim_value = store.get_state(session, key=store.EMBEDDING_DIM_KEY)
        dim = int(dim_value) if dim_value is not None else None
        if self._index is None or (dim is not None and self._index.dim != dim):
            loaded = load_index(self.path)
            wrapped = None
            if loaded is not None and loaded[2] == dim and loaded[1] <= db_generation:
                wrapped = self._wrap(loaded[0], loaded[2])
            self._index = wrapped
            self.generation = loaded[1] if wrapped is not None and loaded else -1
        cached = self._index
        if cached is not None and self._outgrown(cached):
            cached = None  # rebuilt below as the kind its size calls for
        if cached is not None and self.generation == db_generation:
            return cached
        if cached is not None and dim is not None and self.generation < db_generation:
            changed = store.changed_chunk_ids(session, after=self.generation, upto=db_generation)
            if changed is not None:
                self._catch_up(session, cached, changed, dim)
                self.generation = db_generation
                if not self._outgrown(cached):
                    return cached
        log.info("FAISS cache is missing, too far behind or of the wrong kind; rebuilding")
        self._index, self.generation = self._rebuild_from_sql(session)
        if dim is not None:  # an index of unknown width is not worth a file
            self.save()
        return self._index

    def _outgrown(self, index: DenseIndex) -> bool:
        """A flat cache grown past the approximate threshold, or an approximate one shrunk
        below half of it (the gap keeps a store near the line from flipping back and forth)."""
        above = self.options.approximate_above
        if isinstance(index, FaissIndex):
            return index.size > above
        return index.size < above // 2

    def _wrap(self, raw: faiss.Index, dim: int) -> DenseIndex | None:
        """The cache of a loaded FAISS index; None for a kind this code never writes."""
        if is_flat(raw):
            return FaissIndex(dim, raw)
        try:
            return self._approximate(dim, index=raw)
        except RuntimeError:  # not an inverted-file index
            return None

    def _approximate(
        self, dim: int, *, index: faiss.Index | None = None, lists: int = 0
    ) -> ApproximateIndex:
        def exact_vectors(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            with self._read_session() as session:
                rows = store.chunk_embeddings(session, chunk_ids=ids.tolist())
            found = np.fromiter(rows.keys(), dtype=np.int64, count=len(rows))
            return found, vectors_from_bytes(list(rows.values()), dim)

        options = self.options
        return ApproximateIndex(
            dim, exact_vectors, lists=lists, index=index,
            probes=options.approximate_probes, candidates=options.approximate_candidates,
        )  # fmt: skip

    def _catch_up(self, session: Session, index: DenseIndex, changed: set[int], dim: int) -> None:
        """Apply logged changes: drop every touched id, re-add those that exist now (their
        current vectors). Idempotent, so a change applied twice is harmless."""
        self.catch_up_count += 1
        index.remove(changed)
        wanted = sorted(changed)
        for start in range(0, len(wanted), _READ_BATCH):
            rows = store.chunk_embeddings(session, chunk_ids=wanted[start : start + _READ_BATCH])
            if rows:
                ids = np.fromiter(rows.keys(), dtype=np.int64, count=len(rows))
                index.add(ids, vectors_from_bytes(list(rows.values()), dim))

    def _rebuild_from_sql(self, session: Session) -> tuple[DenseIndex, int]:
        self.rebuild_count += 1
        generation = store.current_generation(session)
        dim_value = store.get_state(session, key=store.EMBEDDING_DIM_KEY)
        dim = int(dim_value) if dim_value is not None else 0
        count = store.chunk_count(session)
        index: DenseIndex
        if dim and count > self.options.approximate_above:
            index = self._approximate(dim, lists=min(lists_for(count), count))
            # Trained on a random sample of the stored vectors.
            sample = store.sample_embeddings(session, count=training_size(count, index.lists))
            index.train(vectors_from_bytes(sample, dim))
        else:
            index = FaissIndex(dim or 1)
        ids: list[int] = []
        blobs: list[bytes] = []
        result = session.execute(
            select(Chunk.id, Chunk.embedding)
            .order_by(Chunk.id)
            .execution_options(yield_per=_READ_BATCH)
        )
        for chunk_id, blob in result:
            ids.append(int(chunk_id))
            blobs.append(blob)
            if len(ids) >= _READ_BATCH:
                index.add(np.array(ids, dtype=np.int64), vectors_from_bytes(blobs, dim))
                ids, blobs = [], []
        if ids:
            index.add(np.array(ids, dtype=np.int64), vectors_from_bytes(blobs, dim))
        return index, generation

    def rebuild(self, session: Session) -> DenseIndex:
        """Drop the cache and rebuild it from the embeddings in SQL, then save it."""
        with self._lock:
            self._index, self.generation = self._rebuild_from_sql(session)
            self.save()
            return self._index

    def save(self) -> None:
        with self._lock:
            if self._index is not None:
                save_index(self._index, self.path, self.generation)

    def forget(self) -> None:
        """Drop the in-memory cache (e.g. its width no longer fits the store)."""
        with self._lock:
            self._index, self.generation = None, -1

    def apply(
        self,
        *,
        generation: int,
        removed: Sequence[int],
        added_ids: Sequence[int],
        added_vectors: np.ndarray | None,
    ) -> None:
        """Patch in this process's own write of ``generation`` when the cache was at the one
        before; otherwise leave it for the next ``sync`` to catch up."""
        with self._lock:
            if self._index is None or self.generation != generation - 1:
                return  # another process (or thread) wrote in between, or nothing loaded
            self._index.remove(removed)
            if added_vectors is not None and len(added_ids):
                self._index.add(np.array(added_ids, dtype=np.int64), added_vectors)
            self.generation = generation
