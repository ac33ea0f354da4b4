"""The approximate index on its own (real FAISS, random vectors) and as the knowledge
base's cache above its threshold (the sample data, the real embedder)."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from ingest.ingestion import Ingestor
from rag.embedding import Embedder
from rag.retrieval.retriever import Retriever
from rag.settings import Settings, StoreSettings
from rag.storage import store
from rag.storage.approximate_index import ApproximateIndex
from rag.storage.doctor import diagnose
from rag.storage.filters import SearchFilter
from rag.storage.knowledge_base import KnowledgeBase
from rag.storage.vector_index import FaissIndex

DIM = 32


@pytest.fixture
def vectors() -> np.ndarray:
    rng = np.random.default_rng(3)
    raw = rng.standard_normal((2000, DIM)).astype(np.float32)
    return raw / np.linalg.norm(raw, axis=1, keepdims=True)


def build(vectors: np.ndarray, **options: int) -> ApproximateIndex:
    def exact(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ids, vectors[ids]

    index = ApproximateIndex(DIM, exact, lists=16, **options)
    index.train(vectors)
    index.add(np.arange(len(vectors), dtype=np.int64), vectors)
    return index


def test_scores_are_exact_and_k_results_come_back_under_filters(vectors: np.ndarray) -> None:
    index = build(vectors, probes=2, candidates=20)
    query = vectors[:1]
    scores, ids = index.search(query, 5)
    assert ids[0, 0] == 0 and scores[0, 0] == pytest.approx(1.0, abs=1e-5)  # itself, exact
    assert np.allclose(scores[0], vectors[ids[0]] @ query[0], atol=1e-6)
    # Five allowed vectors: few enough to be scored exactly.
    allowed = np.array([7, 333, 901, 1500, 1999], dtype=np.int64)
    _, ids = index.search(query, 5, allowed_ids=allowed)
    assert sorted(ids[0].tolist()) == allowed.tolist()
    _, ids = index.search(query, 8, allowed_ids=allowed)  # fewer than k exist: padded
    assert sorted(i for i in ids[0].tolist() if i >= 0) == allowed.tolist()


def test_a_selective_filter_probes_more_lists_instead_of_losing_recall(
    vectors: np.ndarray,
) -> None:
    # Two probed lists hold about 25 of the 200 allowed vectors, fewer than the 100
    # candidates an unfiltered search re-scores: the index must look into more lists.
    index = build(vectors, probes=2, candidates=100)
    allowed = np.sort(np.random.default_rng(5).choice(len(vectors), 200, replace=False))
    found = 0
    for row in range(50):
        query = vectors[row + 100]
        _, ids = index.search(query[None, :], 10, allowed_ids=allowed)
        exact = allowed[np.argsort(-(vectors[allowed] @ query))[:10]]
        found += len(set(ids[0].tolist()) & set(exact.tolist()))
    assert found / 500 >= 0.95


def test_remove_and_ids(vectors: np.ndarray) -> None:
    index = build(vectors)
    assert index.remove([0, 5, 99999]) == 2
    assert index.size == len(vectors) - 2
    assert set(index.ids().tolist()) == set(range(len(vectors))) - {0, 5}
    assert 0 not in index.search(vectors[:1], 5)[1][0]


def ids(retriever: Retriever, query: str) -> list[int]:
    return [h.chunk_id for h in retriever.search(query, k=3, mode="dense").hits]


def test_the_knowledge_base_switches_to_the_approximate_index_above_its_threshold(
    settings: Settings, embedder: Embedder, sample_dir: Path
) -> None:
    small = settings.model_copy(
        update={"store": StoreSettings(approximate_above=20, approximate_probes=64)}
    )
    exact_settings = settings.model_copy(  # the same database, a flat cache of its own
        update={
            "data_dir": settings.data_dir / "exact",
            "database_url": small.resolved_database_url,
        }
    )
    with closing(KnowledgeBase(small)) as kb:
        Ingestor(kb, embedder, small).ingest_paths([sample_dir])
        index = kb.vectors()
        assert isinstance(index, ApproximateIndex) and index.size == len(kb.chunk_ids())
        assert diagnose(kb).consistent
        approximate = Retriever(kb, embedder, small.retrieval)
        queries = ["when is the workshop open on saturday", "how do I fix a puncture"]
        found = [ids(approximate, q) for q in queries]
        only_faq = SearchFilter(source_glob="*handbook.md")
        filtered = approximate.search("opening hours", k=3, mode="dense", search_filter=only_faq)
        assert filtered.hits and all(h.source.endswith("handbook.md") for h in filtered.hits)
        # The same store searched exactly (a flat cache in another data dir) agrees.
        with closing(KnowledgeBase(exact_settings)) as exact_kb:
            assert isinstance(exact_kb.vectors(), FaissIndex)
            exact = Retriever(exact_kb, embedder, exact_settings.retrieval)
            assert found == [ids(exact, q) for q in queries]
        # Deleting documents patches it; reopening loads it from its file.
        first = sorted(kb.chunk_ids())
        with kb.read_session() as session:
            victim = store.list_documents(session)[0].id
        kb.delete_document(victim)
        assert set(kb.vectors().ids().tolist()) == kb.chunk_ids() < set(first)
    with closing(KnowledgeBase(small)) as reopened:
        assert isinstance(reopened.vectors(), ApproximateIndex)
        assert reopened.rebuild_count == 0 and diagnose(reopened).consistent
