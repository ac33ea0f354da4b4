"""Two knowledge bases on one database (as two API processes): each keeps its FAISS cache
current from the change log, without rebuilding."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from ingest.ingestion import Ingestor
from rag.embedding import Embedder
from rag.settings import Settings, StoreSettings
from rag.storage import store
from rag.storage.knowledge_base import KnowledgeBase


@pytest.fixture
def other(settings: Settings, tmp_path: Path) -> Iterator[KnowledgeBase]:
    """A second process's view: same database, its own data dir (own FAISS file)."""
    url = settings.resolved_database_url  # SQLite: the first store's file, by its path
    twin = settings.model_copy(update={"data_dir": tmp_path / "other", "database_url": url})
    with closing(KnowledgeBase(twin)) as knowledge_base:
        yield knowledge_base


def test_another_process_catches_up_adds_and_deletes(
    kb: KnowledgeBase,
    other: KnowledgeBase,
    ingestor: Ingestor,
    embedder: Embedder,
    sample_dir: Path,
) -> None:
    first = sorted(sample_dir.iterdir())[:3]
    ingestor.ingest_paths(first)
    assert set(other.vectors().ids().tolist()) == kb.chunk_ids()  # a first (full) build
    assert other.rebuild_count == 1
    ingestor.ingest_paths(sorted(sample_dir.iterdir()))  # more documents...
    with kb.read_session() as session:
        victim = store.list_documents(session)[0].id
    kb.delete_document(victim)  # ...and one deleted
    assert set(other.vectors().ids().tolist()) == kb.chunk_ids()
    assert (other.rebuild_count, other.catch_up_count) == (1, 1)  # patched, not rebuilt
    query = embedder.encode(["when is the workshop open on saturday"])
    assert other.vectors().search(query, 3)[1].tolist() == kb.vectors().search(query, 3)[1].tolist()


def test_a_cache_older_than_the_log_is_rebuilt(
    settings: Settings, other: KnowledgeBase, embedder: Embedder, sample_dir: Path
) -> None:
    short = settings.model_copy(update={"store": StoreSettings(change_log_generations=1)})
    with closing(KnowledgeBase(short)) as writer:
        ingestor = Ingestor(writer, embedder, short)
        files = sorted(sample_dir.iterdir())
        ingestor.ingest_paths(files[:2])
        other.vectors()  # the other process is current at this generation
        for path in files[2:5]:  # three more generations; the log keeps only the last
            ingestor.ingest_paths([path])
        with writer.read_session() as session:
            assert store.change_log_floor(session) == store.current_generation(session) - 1
        assert set(other.vectors().ids().tolist()) == writer.chunk_ids()
    assert (other.rebuild_count, other.catch_up_count) == (2, 0)
