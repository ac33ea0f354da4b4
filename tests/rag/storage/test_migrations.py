"""Schema migrations: a store made by release 0.1.0 (tables created directly, no Alembic
version) is upgraded in place with its data intact, on both backends."""

from __future__ import annotations

from contextlib import closing

import numpy as np
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from rag.settings import Settings
from rag.storage import api_keys, jobs, schema, store
from rag.storage.knowledge_base import KnowledgeBase

TEXTS = [
    "The workshop opens on Saturday from ten to four.",
    "Chain lubricant goes on the inside of the chain, one drop per link.",
    "Membership costs forty euros a year.",
]


def test_head_constant_matches_the_migration_scripts() -> None:
    scripts = ScriptDirectory(str(schema.MIGRATIONS))
    assert scripts.get_current_head() == schema.HEAD


def make_release_0_1_store(settings: Settings) -> np.ndarray:
    """The 0.1.0 schema without Alembic's table, filled the way 0.1.0 wrote rows."""
    engine = store.make_engine(settings.resolved_database_url)
    schema.upgrade_schema(engine, revision=schema.BASELINE)
    vectors = np.random.default_rng(7).normal(size=(len(TEXTS), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    now = "2026-01-01 00:00:00+00:00"
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(
            text("INSERT INTO collections (id, name, created_at) VALUES (1, 'c', :t)"), {"t": now}
        )
        conn.execute(
            text(
                "INSERT INTO documents (id, collection_id, source, origin, title, mime_type, "
                "size_bytes, content_hash, pipeline_signature, status, metadata, created_at, "
                "updated_at) VALUES (1, 1, 'faq.md', 'faq.md', 'FAQ', 'text/markdown', 100, "
                "'h', 's', 'READY', '{}', :t, :t)"
            ),
            {"t": now},
        )
        for number, (chunk_text, vector) in enumerate(zip(TEXTS, vectors, strict=True)):
            conn.execute(
                text(
                    "INSERT INTO chunks (id, document_id, ordinal, text, token_count, "
                    "char_start, char_end, content_hash, embedding, embedding_model) VALUES "
                    "(:id, 1, :n, :text, 12, 0, 10, :hash, :vector, 'old-model')"
                ),
                {"id": number + 1, "n": number, "text": chunk_text, "hash": f"c{number}",
                 "vector": vector.tobytes()},
            )  # fmt: skip
        conn.execute(
            text(
                "INSERT INTO jobs (id, kind, collection, status, total, done, failed, errors, "
                "summary, params, created_at, updated_at) VALUES "
                "(1, 'INGEST', 'c', 'RUNNING', 1, 0, 0, '[]', '{}', '{}', :t, :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO api_keys (id, name, prefix, key_hash, collections, created_at) "
                "VALUES (1, 'old', 'rag_old', :h, '[]', :t)"
            ),
            {"h": "h" * 64, "t": now},
        )
        for key, value in (("generation", "4"), ("embedding_model", "old-model"),
                           ("embedding_dim", "8")):  # fmt: skip
            conn.execute(
                text("INSERT INTO store_state (key, value) VALUES (:k, :v)"),
                {"k": key, "v": value},
            )
    assert "chunk_changes" not in inspect(engine).get_table_names()
    engine.dispose()
    return vectors


def test_a_release_0_1_store_is_upgraded_in_place(settings: Settings) -> None:
    vectors = make_release_0_1_store(settings)
    with closing(KnowledgeBase(settings)) as kb:  # opening the store upgrades it
        with kb.engine.connect() as conn:
            assert schema.current_revision(conn) == schema.HEAD
        with kb.read_session() as session:
            assert [c.text for c in store.get_document(session, document_id=1).chunks] == TEXTS
            assert store.current_generation(session) == 4
            # Generations written before the log existed cannot be replayed.
            assert store.change_log_floor(session) == 4
            assert store.counted_chunks(session) == len(TEXTS)
            hits = kb.lexical.search(session, query="saturday workshop", k=3)
            assert [h.chunk_id for h in hits][:1] == [1]
            # The old release's unfinished job has no owner: any process may resume it.
            assert jobs.claimable_job_ids(session, owner="me", lease_s=30) == [1]
            # A key from before roles could do everything: it is an admin key now.
            old_key = api_keys.find_key(session, key_hash="h" * 64)
            assert old_key is not None and old_key.roles == ["admin"]
        found = kb.vectors().search(vectors[2:3], 1)[1]
        assert found.tolist() == [[3]]


def test_upgrading_twice_changes_nothing(settings: Settings) -> None:
    make_release_0_1_store(settings)
    KnowledgeBase(settings).close()
    with closing(KnowledgeBase(settings)) as kb, kb.read_session() as session:
        assert store.chunk_count(session) == len(TEXTS)
