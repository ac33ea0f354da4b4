"""Shared fixtures: the real bundled MiniLM (loaded once), a fresh store + FAISS data dir per
test on each database backend (a SQLite file, and a fresh database on a throwaway PostgreSQL
server), and a writable copy of the sample data.

The PostgreSQL server is the one ``RAG_TEST_POSTGRES_URL`` names (``.ci/run`` starts one),
or else one this session starts itself (``tests/postgres_server.py``)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
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
from tests import postgres_server as pg

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO_ROOT / "data"
# 11 files, one of them a BEIR glossary of 5 rows.
SAMPLE_DOCUMENTS = 15


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return load_embedder(EmbeddingSettings())


BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """URL of a running PostgreSQL server's maintenance database."""
    url = os.environ.get("RAG_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    base = Path(tempfile.mkdtemp(prefix="rag-test-postgres-"))
    try:
        yield pg.start(base)
    finally:
        pg.stop(base)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def fresh_database(postgres_admin_url: str) -> Iterator[Callable[[], str]]:
    """Makes empty PostgreSQL databases; drops them all at the end of the session."""
    made: list[str] = []

    def make() -> str:
        made.append(pg.create_database(postgres_admin_url))
        return made[-1]

    yield make
    for url in made:
        pg.drop_database(url)


def database_url_for(backend: str, request: pytest.FixtureRequest) -> str | None:
    """None for SQLite (a file in the data dir); a fresh database URL for PostgreSQL."""
    if backend == "sqlite":
        return None
    return request.getfixturevalue("fresh_database")()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    """The test's database on its backend (None: SQLite in the data dir)."""
    return database_url_for(backend, request)


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "store", database_url=database_url, _env_file=None
    )


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
def sample_stores(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> Callable[[str, pytest.FixtureRequest], Settings]:
    """Per backend, a store holding the sample data (collection 'default'), made once and
    shared read-only."""
    made: dict[str, Settings] = {}

    def store_for(backend: str, request: pytest.FixtureRequest) -> Settings:
        if backend not in made:
            settings = Settings(  # type: ignore[call-arg]
                data_dir=tmp_path_factory.mktemp(f"sample-store-{backend}"),
                database_url=database_url_for(backend, request),
                _env_file=None,
            )
            with closing(KnowledgeBase(settings)) as knowledge_base:
                Ingestor(knowledge_base, embedder, settings).ingest_paths([SAMPLE_DATA])
            made[backend] = settings
        return made[backend]

    return store_for


@pytest.fixture
def sample_store(
    sample_stores: Callable[[str, pytest.FixtureRequest], Settings],
    request: pytest.FixtureRequest,
) -> Settings:
    """The SQLite sample store (tests about answers, not about the database)."""
    return sample_stores("sqlite", request)


@pytest.fixture
def sample_kb(sample_store: Settings) -> Iterator[KnowledgeBase]:
    with closing(KnowledgeBase(sample_store)) as knowledge_base:
        yield knowledge_base


@pytest.fixture
def retriever(
    sample_stores: Callable[[str, pytest.FixtureRequest], Settings],
    backend: str,
    embedder: Embedder,
    request: pytest.FixtureRequest,
) -> Iterator[Retriever]:
    """A retriever over the sample store, on each backend."""
    with closing(KnowledgeBase(sample_stores(backend, request))) as knowledge_base:
        yield Retriever(knowledge_base, embedder, knowledge_base.settings.retrieval)


@pytest.fixture
def rag_pipeline(sample_kb: KnowledgeBase, llm: LlamaCppLLM, embedder: Embedder) -> Answerer:
    retriever = Retriever(sample_kb, embedder, sample_kb.settings.retrieval)
    return Answerer(retriever=retriever, llm=llm, embedder=embedder, settings=sample_kb.settings)
