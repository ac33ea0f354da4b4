"""Dense vector index: FAISS inner product over normalized vectors, IDs = chunk primary keys.

Exact (flat) while the store is small; approximate (``rag.storage.approximate_index``) above
a configured size. Either is a derived cache of the embeddings stored in SQL, saved
atomically (temp file, fsync, rename) together with the store generation it reflects, in
one file, so a reader can always tell whether it is current.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np
import numpy.typing as npt

from rag.embedding import FloatMatrix

_MAGIC = b"RAGFAISS"
_HEADER = struct.Struct("<8sQI")  # magic, generation, dim


class VectorIndex(Protocol):
    dim: int

    @property
    def size(self) -> int: ...

    def serialize(self) -> npt.NDArray[np.uint8]: ...

    def add(self, ids: npt.NDArray[np.int64], vectors: FloatMatrix) -> None: ...

    def remove(self, ids: Iterable[int]) -> int: ...

    def search(
        self, query: FloatMatrix, k: int, allowed_ids: npt.NDArray[np.int64] | None = None
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]: ...

    def ids(self) -> npt.NDArray[np.int64]: ...


class FaissIndex:
    """A thread-safe ``IndexIDMap2(IndexFlatIP)``."""

    def __init__(self, dim: int, index: faiss.Index | None = None) -> None:
        self.dim = dim
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._lock = threading.RLock()

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: npt.NDArray[np.int64], vectors: FloatMatrix) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of dim {self.dim}, got shape {vectors.shape}")
        with self._lock:
            self._index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: Iterable[int]) -> int:
        id_array = np.fromiter(ids, dtype=np.int64)
        if id_array.size == 0:
            return 0
        with self._lock:
            return int(self._index.remove_ids(faiss.IDSelectorBatch(id_array)))

    def search(
        self, query: FloatMatrix, k: int, allowed_ids: npt.NDArray[np.int64] | None = None
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        query = np.ascontiguousarray(np.atleast_2d(query), dtype=np.float32)
        with self._lock:
            k = min(k, self.size)
            if k <= 0:
                empty = np.empty((query.shape[0], 0))
                return empty.astype(np.float32), empty.astype(np.int64)
            if allowed_ids is None:
                scores, ids = self._index.search(query, k)
            else:
                # The selector filters inside the scan, so k matching hits come back whenever
                # k matching vectors exist (no post-filtering of a short list).
                selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed_ids, np.int64))
                params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
                scores, ids = self._index.search(query, k, params=params)
        return scores, ids

    def ids(self) -> npt.NDArray[np.int64]:
        with self._lock:
            if self.size == 0:
                return np.empty(0, dtype=np.int64)
            id_map = self._index.id_map  # type: ignore[attr-defined]
            return faiss.vector_to_array(id_map).astype(np.int64)

    def serialize(self) -> npt.NDArray[np.uint8]:
        with self._lock:
            return faiss.serialize_index(self._index)


def save_index(index: VectorIndex, path: Path, generation: int) -> None:
    """Write header + serialized index to a temp file, fsync, then rename over ``path``."""
    payload = index.serialize()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(_HEADER.pack(_MAGIC, generation, index.dim))
        fh.write(payload.tobytes())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_index(path: Path) -> tuple[faiss.Index, int, int] | None:
    """(raw FAISS index, generation, dim), or None when the file is missing or unreadable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(raw) < _HEADER.size:
        return None
    magic, generation, dim = _HEADER.unpack_from(raw)
    if magic != _MAGIC:
        return None
    try:
        index = faiss.deserialize_index(np.frombuffer(raw, dtype=np.uint8, offset=_HEADER.size))
    except RuntimeError:
        return None
    if index.d != dim:
        return None
    return index, int(generation), int(dim)


def is_flat(index: faiss.Index) -> bool:
    return isinstance(index, faiss.IndexIDMap2)
