"""An approximate FAISS index for large stores: an inverted file over compressed vectors,
whose candidates are re-scored with the exact stored vectors.

The compressed codes (``encoding``: FAISS's 4-bit scalar quantizer by default, 192 bytes per
384-d vector, so 1M chunks take ~200 MB instead of 1.5 GB as floats) only choose
candidates; ``exact_vectors`` (the embeddings kept in SQL) decide the order, so the scores a
caller sees are the true cosines. Filters are applied inside the scan with an id selector,
as in the flat index; when a selective filter leaves fewer than ``k`` candidates, more
inverted lists are probed until as many candidates turn up as an unfiltered search re-scores;
a filter allowing only a few vectors (a few times the candidates) is scored exactly, and so
is any filter that still leaves fewer than ``k``: ``k`` results come back whenever ``k``
exist.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import faiss
import numpy as np
import numpy.typing as npt

from rag.embedding import FloatMatrix

IdArray = npt.NDArray[np.int64]
# chunk ids -> their exact stored vectors (rows in the same order; missing ids left out,
# with the ids that were found)
ExactVectors = Callable[[IdArray], tuple[IdArray, FloatMatrix]]
DEFAULT_ENCODING = "SQ4"
# A filter allowing at most this many times the candidates is scored exactly, without the
# inverted file: fewer vectors than several escalating probes would touch.
_EXACT_FILTER_FACTOR = 4


# Training vectors per inverted list: FAISS's k-means asks for at least 39.
TRAINING_PER_LIST = 40


def training_size(count: int, lists: int) -> int:
    return min(count, TRAINING_PER_LIST * lists)


def lists_for(count: int) -> int:
    """Inverted lists for ``count`` vectors: about 4 sqrt(n), FAISS's usual guidance."""
    return int(max(16, min(65536, 4 * np.sqrt(max(count, 1)))))


class ApproximateIndex:
    """``IVF{lists},{encoding}`` over inner product, trained on a sample of its vectors
    (or a loaded ``index`` of that kind: ``lists`` and ``encoding`` are then its own)."""

    def __init__(
        self,
        dim: int,
        exact_vectors: ExactVectors,
        *,
        lists: int = 0,
        encoding: str = DEFAULT_ENCODING,
        probes: int = 32,
        candidates: int = 200,
        index: faiss.Index | None = None,
    ) -> None:
        self.dim = dim
        self.probes = probes
        self.candidates = candidates
        self._exact_vectors = exact_vectors
        self._index = (
            index
            if index is not None
            else faiss.index_factory(dim, f"IVF{lists},{encoding}", faiss.METRIC_INNER_PRODUCT)
        )
        self._ivf = faiss.extract_index_ivf(self._index)
        # Removal and "which ids do I hold" need a direct map from id to list entry.
        self._ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
        self._lock = threading.RLock()

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def lists(self) -> int:
        return int(self._ivf.nlist)

    @property
    def trained(self) -> bool:
        return bool(self._index.is_trained)

    def train(self, sample: FloatMatrix) -> None:
        with self._lock:
            self._index.train(np.ascontiguousarray(sample, dtype=np.float32))

    def add(self, ids: IdArray, vectors: FloatMatrix) -> None:
        if len(ids) == 0:
            return
        if not self.trained:
            raise RuntimeError("train() the approximate index before adding vectors")
        with self._lock:
            self._index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32),
                np.ascontiguousarray(ids, dtype=np.int64),
            )

    def remove(self, ids: Iterable[int]) -> int:
        id_array = np.fromiter(ids, dtype=np.int64)
        if id_array.size == 0:
            return 0
        with self._lock:  # the hashtable direct map removes by an id array
            return int(self._index.remove_ids(faiss.IDSelectorArray(id_array)))

    def ids(self) -> IdArray:
        with self._lock:
            invlists = self._ivf.invlists
            assert invlists is not None  # an IVF index always has its lists
            parts = [
                faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
                for i in range(self.lists)
                if invlists.list_size(i)
            ]
        return np.sort(np.concatenate(parts)).astype(np.int64) if parts else np.empty(0, np.int64)

    def memory_bytes(self) -> int:
        """The serialized index: codes, ids, coarse centroids and quantizer tables."""
        with self._lock:
            return int(faiss.serialize_index(self._index).nbytes)

    def serialize(self) -> npt.NDArray[np.uint8]:
        with self._lock:
            return faiss.serialize_index(self._index)

    def search(
        self, query: FloatMatrix, k: int, allowed_ids: IdArray | None = None
    ) -> tuple[npt.NDArray[np.float32], IdArray]:
        """Best ``k`` per query by exact inner product among the approximate candidates;
        rows padded with id -1 when fewer exist."""
        queries = np.ascontiguousarray(np.atleast_2d(query), dtype=np.float32)
        k = min(k, self.size)
        scores = np.full((len(queries), max(k, 0)), -np.inf, dtype=np.float32)
        found = np.full((len(queries), max(k, 0)), -1, dtype=np.int64)
        if k <= 0:
            return scores, found
        for row, vector in enumerate(queries):
            candidates = self._candidates(vector, k, allowed_ids)
            if candidates.size == 0:
                continue
            ids, vectors = self._exact_vectors(candidates)
            exact = vectors @ vector
            order = np.argsort(-exact, kind="stable")[:k]
            scores[row, : len(order)] = exact[order]
            found[row, : len(order)] = ids[order]
        return scores, found

    def _candidates(self, vector: FloatMatrix, k: int, allowed: IdArray | None) -> IdArray:
        wanted = max(k, self.candidates)
        selector = None
        target = wanted
        if allowed is not None:
            allowed = np.ascontiguousarray(allowed, dtype=np.int64)
            if allowed.size <= _EXACT_FILTER_FACTOR * wanted:
                return allowed  # few enough to score them all exactly
            selector = faiss.IDSelectorBatch(allowed)
            target = min(wanted, allowed.size)
        probes = self.probes
        with self._lock:
            while True:
                params = faiss.SearchParametersIVF(  # type: ignore[call-arg]
                    nprobe=min(probes, self.lists), sel=selector
                )
                _, ids = self._index.search(vector[None, :], wanted, params=params)
                hits = ids[0][ids[0] >= 0].astype(np.int64)
                if hits.size >= target or probes >= self.lists:
                    break
                # A filter left fewer candidates than an unfiltered search would re-score:
                # look into more lists, so a selective filter does not cost recall.
                probes *= 4
        if hits.size < k and allowed is not None:
            # Still short only when fewer than k allowed vectors are indexed: score them all.
            return allowed
        return hits
