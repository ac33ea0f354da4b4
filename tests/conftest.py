"""Shared fixtures: the real bundled MiniLM (loaded once), a fresh SQLite + FAISS data dir
per test, and a writable copy of the sample data."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from ingest.ingestion import Ingestor
from rag.answering.answerer import Answerer
from rag.answering.llm import LlamaCppLLM, load_llm
from rag.embedding import Embedder, load_embedder
from rag.retrieval.retriever import Retriever
from rag.settings import EmbeddingSettings, LLMSettings, Settings
from rag.storage.knowledge_base import KnowledgeBase

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO_ROOT / "data"
# 11 files, one of them a BEIR glossary of 5 rows.
SAMPLE_DOCUMENTS = 15


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return load_embedder(EmbeddingSettings())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "store", _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def kb(settings: Settings) -> Iterator[KnowledgeBase]:
    with closing(KnowledgeBase(settings)) as knowledge_base:
        yield knowledge_base


@pytest.fixture
def ingestor(kb: KnowledgeBase, embedder: Embedder, settings: Settings) -> Ingestor:
    return Ingestor(kb, embedder, settings)


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    target = tmp_path / "docs"
    shutil.copytree(SAMPLE_DATA, target)
    return target


# The default preset answers wherever a test needs a real answer (citations on every path,
# refusals); tests about plumbing alone ask for the tiny model explicitly.
@pytest.fixture(scope="session")
def llm() -> LlamaCppLLM:
    return load_llm(LLMSettings())


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Settings:
    """A data dir holding the sample data (collection 'default'), shared read-only."""
    data_dir = tmp_path_factory.mktemp("sample-store")
    settings = Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg]
    knowledge_base = KnowledgeBase(settings)
    Ingestor(knowledge_base, embedder, settings).ingest_paths([SAMPLE_DATA])
    knowledge_base.close()
    return settings


@pytest.fixture
def sample_kb(sample_store: Settings) -> Iterator[KnowledgeBase]:
    with closing(KnowledgeBase(sample_store)) as knowledge_base:
        yield knowledge_base


@pytest.fixture
def retriever(sample_kb: KnowledgeBase, embedder: Embedder) -> Retriever:
    return Retriever(sample_kb, embedder, sample_kb.settings.retrieval)


@pytest.fixture
def rag_pipeline(retriever: Retriever, llm: LlamaCppLLM, embedder: Embedder) -> Answerer:
    return Answerer(retriever=retriever, llm=llm, embedder=embedder, settings=retriever.kb.settings)
