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
from rag.storage import store
from rag.storage.doctor import diagnose, repair
from rag.storage.knowledge_base import KnowledgeBase
from rag.storage.models import Chunk
from tests.stores import cli_args


@pytest.fixture
def filled(kb: KnowledgeBase, ingestor: Ingestor, sample_dir: Path) -> KnowledgeBase:
    ingestor.ingest_paths([sample_dir])
    return kb


def test_a_fresh_store_is_consistent(filled: KnowledgeBase) -> None:
    report = diagnose(filled, configured_model=embedding_model_name(EmbeddingSettings()))
    assert report.consistent and report.chunks == report.faiss_vectors > 0


def drop_from_full_text_index(kb: KnowledgeBase, chunk_id: int) -> None:
    """The full-text index loses a chunk (SQLite's FTS5 table, PostgreSQL's postings)."""
    if kb.engine.dialect.name == "sqlite":
        statement = (
            "INSERT INTO chunks_fts(chunks_fts, rowid, text) SELECT 'delete', id, text "
            "FROM chunks WHERE id = :id"
        )
    else:
        statement = "DELETE FROM chunk_terms WHERE chunk_id = :id"
    with kb.write_session.begin() as session:
        session.execute(text(statement), {"id": chunk_id})


def orphan(kb: KnowledgeBase, chunk_id: int) -> None:
    """Point a chunk at a missing document behind the foreign key's back."""
    if kb.engine.dialect.name == "sqlite":
        raw = kb.engine.raw_connection()  # PRAGMA is a no-op inside a transaction
        try:
            raw.execute("PRAGMA foreign_keys=OFF")
            raw.execute("UPDATE chunks SET document_id = 999999 WHERE id = ?", (chunk_id,))
            raw.commit()
        finally:
            raw.close()
        return
    with kb.engine.begin() as conn:  # the test server's user may skip FK triggers
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.execute(update(Chunk).where(Chunk.id == chunk_id).values(document_id=999999))


def test_damage_is_found_and_repaired(filled: KnowledgeBase, embedder: Embedder) -> None:
    ids = sorted(filled.chunk_ids())
    filled.vectors().remove(ids[:2])  # FAISS lost vectors
    drop_from_full_text_index(filled, ids[3])
    with filled.write_session.begin() as session:  # one embedding is truncated
        session.execute(update(Chunk).where(Chunk.id == ids[4]).values(embedding=b"\x00" * 8))
        store.set_state(session, key=store.CHUNK_COUNT_KEY, value="1")  # the counter is off
    orphan(filled, ids[5])
    report = diagnose(filled)
    assert not report.consistent
    assert report.missing_from_fts == [ids[3]]
    assert report.bad_embeddings == [ids[4]]
    assert report.orphan_chunks == [ids[5]]
    assert report.chunk_counter_mismatch
    fixed = repair(filled, report, embedder=embedder)
    assert fixed.consistent, fixed
    assert fixed.repaired
    remaining = filled.chunk_ids()
    assert ids[5] not in remaining and set(filled.vectors().ids().tolist()) == remaining
    vector = filled.vectors().search(embedder.encode(["opening hours"]), 1)
    assert np.isfinite(vector[0]).all()


def test_doctor_cli_exit_codes(filled: KnowledgeBase) -> None:
    runner = CliRunner()
    base = cli_args(filled.settings)
    ok = runner.invoke(app, [*base, "doctor", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["consistent"]
    drop_from_full_text_index(filled, min(filled.chunk_ids()))
    broken = runner.invoke(app, [*base, "doctor", "--json"])
    assert broken.exit_code == 1 and json.loads(broken.stdout)["missing_from_fts"] == 1
    fixed = runner.invoke(app, [*base, "doctor", "--repair", "--json"])
    assert fixed.exit_code == 0, fixed.stdout
    assert runner.invoke(app, [*base, "doctor"]).exit_code == 0
