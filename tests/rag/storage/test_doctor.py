from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text, update
from typer.testing import CliRunner

from api.cli import app
from ingest.ingestion import Ingestor
from rag.embedding import Embedder, embedding_model_name
from rag.settings import EmbeddingSettings
from rag.storage.doctor import diagnose, repair
from rag.storage.knowledge_base import KnowledgeBase
from rag.storage.models import Chunk


@pytest.fixture
def filled(kb: KnowledgeBase, ingestor: Ingestor, sample_dir: Path) -> KnowledgeBase:
    ingestor.ingest_paths([sample_dir])
    return kb


def test_a_fresh_store_is_consistent(filled: KnowledgeBase) -> None:
    report = diagnose(filled, configured_model=embedding_model_name(EmbeddingSettings()))
    assert report.consistent and report.chunks == report.faiss_vectors > 0


def test_damage_is_found_and_repaired(filled: KnowledgeBase, embedder: Embedder) -> None:
    ids = sorted(filled.chunk_ids())
    filled.vectors().remove(ids[:2])  # FAISS lost vectors
    with filled.write_session.begin() as session:
        # The FTS index lost a row, one embedding is truncated, one chunk lost its document.
        session.execute(
            text("INSERT INTO chunks_fts(chunks_fts, rowid, text) SELECT 'delete', id, text "
                 "FROM chunks WHERE id = :id"), {"id": ids[3]},
        )  # fmt: skip
        session.execute(update(Chunk).where(Chunk.id == ids[4]).values(embedding=b"\x00" * 8))
    raw = filled.engine.raw_connection()
    try:
        raw.execute("PRAGMA foreign_keys=OFF")
        raw.execute("UPDATE chunks SET document_id = 999999 WHERE id = ?", (ids[5],))
        raw.commit()
    finally:
        raw.close()
    report = diagnose(filled)
    assert not report.consistent
    assert report.missing_from_fts == [ids[3]]
    assert report.bad_embeddings == [ids[4]]
    assert report.orphan_chunks == [ids[5]]
    fixed = repair(filled, report, embedder=embedder)
    assert fixed.consistent, fixed
    assert fixed.repaired
    remaining = filled.chunk_ids()
    assert ids[5] not in remaining and set(filled.vectors().ids().tolist()) == remaining
    vector = filled.vectors().search(embedder.encode(["opening hours"]), 1)
    assert np.isfinite(vector[0]).all()


def test_doctor_cli_exit_codes(filled: KnowledgeBase) -> None:
    runner = CliRunner()
    base = ["--data-dir", str(filled.settings.data_dir)]
    ok = runner.invoke(app, [*base, "doctor", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["consistent"]
    with filled.write_session.begin() as session:
        session.execute(
            text("INSERT INTO chunks_fts(chunks_fts, rowid, text) SELECT 'delete', id, text "
                 "FROM chunks WHERE id = (SELECT min(id) FROM chunks)")
        )  # fmt: skip
    broken = runner.invoke(app, [*base, "doctor", "--json"])
    assert broken.exit_code == 1 and json.loads(broken.stdout)["missing_from_fts"] == 1
    fixed = runner.invoke(app, [*base, "doctor", "--repair", "--json"])
    assert fixed.exit_code == 0, fixed.stdout
    assert runner.invoke(app, [*base, "doctor"]).exit_code == 0
