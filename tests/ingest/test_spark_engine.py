"""`rag ingest --engine spark` on real Spark in local mode: the same store as the local engine,
and a task whose Python worker dies mid-partition is retried without duplicates."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from api.cli import app
from ingest.ingestion import Ingestor
from ingest.spark import FaultDrill, ingest_with_spark
from rag.embedding import Embedder
from rag.settings import Settings, SparkSettings
from rag.spark import SparkUnavailableError, require_spark
from rag.storage.doctor import diagnose
from rag.storage.knowledge_base import KnowledgeBase
from rag.storage.models import Chunk, Document
from tests.conftest import SAMPLE_DATA, SAMPLE_DOCUMENTS

pytestmark = pytest.mark.slow

# Two worker threads, a failed task tried up to three times (local mode retries only when
# told to).
MASTER = "local[2,3]"
SCIFACT = SAMPLE_DATA.parents[1] / "shared" / "bench-data" / "scifact-train" / "corpus.jsonl"
SLICE_ROWS = 60


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/ plus a SciFact slice (or, without the bench data, paragraphs of data/ as BEIR
    rows), so that one JSONL file spreads over several tasks."""
    root = tmp_path_factory.mktemp("spark-corpus") / "docs"
    shutil.copytree(SAMPLE_DATA, root)
    if SCIFACT.exists():
        with SCIFACT.open() as lines:
            rows = [line.rstrip("\n") for _, line in zip(range(SLICE_ROWS), lines, strict=False)]
    else:
        paragraphs = [
            p.strip()
            for f in sorted(SAMPLE_DATA.glob("*.md"))
            for p in f.read_text().split("\n\n")
            if len(p.strip()) > 80
        ]
        rows = [
            json.dumps({"_id": f"p{i}", "title": "", "text": text})
            for i, text in enumerate(paragraphs[:SLICE_ROWS])
        ]
    (root / "slice.jsonl").write_text("\n".join(rows) + "\n")
    return root


def spark_settings(data_dir: Path, database_url: str | None = None) -> Settings:
    return Settings(  # type: ignore[call-arg]
        data_dir=data_dir,
        database_url=database_url,
        spark=SparkSettings(rows_per_task=16, partitions=4),
        _env_file=None,
    )


def store_contents(settings: Settings) -> tuple[list[Any], list[Any], np.ndarray]:
    """Documents and chunks by source, and the chunk embeddings in the same order."""
    with closing(KnowledgeBase(settings)) as kb, kb.read_session() as session:
        documents = session.execute(
            select(
                Document.source, Document.title, Document.mime_type, Document.content_hash,
                Document.pipeline_signature, Document.metadata_,
            ).order_by(Document.source)
        ).all()  # fmt: skip
        rows = session.execute(
            select(
                Document.source, Chunk.ordinal, Chunk.text, Chunk.token_count, Chunk.char_start,
                Chunk.char_end, Chunk.page, Chunk.section, Chunk.content_hash, Chunk.embedding,
            )
            .join(Document, Document.id == Chunk.document_id)
            .order_by(Document.source, Chunk.ordinal)
        ).all()  # fmt: skip
    chunks = [tuple(r[:-1]) for r in rows]
    vectors = np.stack([np.frombuffer(r[-1], dtype=np.float32) for r in rows])
    return [tuple(d) for d in documents], chunks, vectors


@pytest.fixture(scope="module")
def local_store(
    corpus: Path, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> Iterator[Settings]:
    settings = spark_settings(tmp_path_factory.mktemp("local-engine"))
    with closing(KnowledgeBase(settings)) as kb:
        summary = Ingestor(kb, embedder, settings).ingest_paths([corpus])
    assert summary.failed == 0 and summary.added > SAMPLE_DOCUMENTS
    yield settings


def test_spark_and_local_engines_store_the_same_documents(
    corpus: Path, local_store: Settings, tmp_path: Path
) -> None:
    settings = spark_settings(tmp_path / "spark-engine")
    progress: list[tuple[int, int]] = []
    summary = ingest_with_spark(
        settings, [corpus], master=MASTER, progress=lambda p: progress.append((p.done, p.total))
    )
    expected_documents, expected_chunks, expected_vectors = store_contents(local_store)
    documents, chunks, vectors = store_contents(settings)
    assert (summary.added, summary.failed) == (len(expected_documents), 0)
    assert documents == expected_documents
    assert chunks == expected_chunks  # texts, offsets, pages, sections
    np.testing.assert_allclose(vectors, expected_vectors, atol=1e-5)
    assert progress[-1] == (len(documents), len(documents))
    with closing(KnowledgeBase(settings)) as kb:
        assert diagnose(kb).consistent
    # A second run finds every document unchanged.
    again = ingest_with_spark(settings, [corpus], master=MASTER)
    assert (again.added, again.updated, again.unchanged) == (0, 0, len(documents))


def test_a_task_killed_mid_partition_is_retried_without_duplicates(
    corpus: Path, local_store: Settings, tmp_path: Path, database_url: str | None
) -> None:
    settings = spark_settings(tmp_path / "store", database_url)
    # The first task attempt to write two documents exits there (its Python worker dies).
    crashed = tmp_path / "crashed"
    drill = FaultDrill(after=2, marker=str(crashed))
    summary = ingest_with_spark(settings, [corpus], master=MASTER, drill=drill)
    assert crashed.exists()  # a first attempt did die after two documents
    expected_documents, expected_chunks, _ = store_contents(local_store)
    assert (summary.added, summary.failed) == (len(expected_documents), 0)
    documents, chunks, _ = store_contents(settings)
    assert documents == expected_documents and chunks == expected_chunks
    with closing(KnowledgeBase(settings)) as kb:
        with kb.read_session() as session:
            sources = session.scalar(select(func.count(func.distinct(Document.source))))
            assert session.scalar(select(func.count()).select_from(Document)) == sources
        report = diagnose(kb)
        assert report.consistent, report.to_dict()
        assert report.faiss_vectors == len(expected_chunks)


def test_a_missing_path_is_reported_like_the_local_engine(tmp_path: Path) -> None:
    settings = spark_settings(tmp_path / "store")
    summary = ingest_with_spark(settings, [tmp_path / "nowhere"], master=MASTER)
    assert summary.failed == 1
    assert (summary.errors[0].error, summary.errors[0].message) == (
        "NotFoundError",
        "no such file or directory",
    )


def test_without_java_the_cli_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no `java` on it
    result = CliRunner().invoke(
        app,
        ["--data-dir", str(tmp_path / "store"), "ingest", str(SAMPLE_DATA), "--engine", "spark"],
    )
    assert result.exit_code == 2
    assert "needs Java 17" in result.output
    with pytest.raises(SparkUnavailableError, match="Java"):
        require_spark()
