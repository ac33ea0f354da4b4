"""Repository functions on a real SQLite file: collections, documents, jobs, batch items,
the answer log and API keys."""

from __future__ import annotations

import pytest

from rag.errors import ConflictError, NotFoundError
from rag.storage import answer_log, api_keys, jobs, store
from rag.storage.knowledge_base import KnowledgeBase
from rag.storage.models import JobKind, JobStatus


def test_collections_are_unique_and_deletable(kb: KnowledgeBase) -> None:
    with kb.write_session.begin() as session:
        created = store.create_collection(session, name="team")
        with pytest.raises(ConflictError):
            store.create_collection(session, name="team")
        assert store.get_or_create_collection(session, name="team").id == created.id
    with kb.write_session.begin() as session:
        store.delete_collection_row(session, collection_id=created.id)
    with kb.read_session() as session, pytest.raises(NotFoundError):
        store.get_collection(session, name="team")


def test_document_pages_respect_visible_collections(kb: KnowledgeBase, ingestor, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for collection in ("red", "blue"):
        folder = tmp_path / collection
        folder.mkdir()
        for i in range(3):
            (folder / f"{collection}{i}.txt").write_text(f"{collection} note {i} about saddles.")
        ingestor.ingest_paths([folder], collection=collection)
    with kb.read_session() as session:
        everything, total = store.page_documents(
            session, collection=None, visible=None, offset=0, limit=100
        )
        assert total == 6 and len(everything) == 6
        red, red_total = store.page_documents(
            session, collection=None, visible=["red"], offset=1, limit=1
        )
        assert red_total == 3 and len(red) == 1 and red[0].collection.name == "red"
        fingerprints = store.document_fingerprints(session, collection="blue")
        assert len(fingerprints) == 3
        doc = red[0]
        assert store.chunk_count_of(session, document_id=doc.id) == len(doc.chunks) > 0
        chunk_ids = [c.id for c in doc.chunks]
        assert set(store.chunk_sources(session, chunk_ids=chunk_ids).values()) == {doc.source}
        assert set(store.chunk_embeddings(session, chunk_ids=chunk_ids)) == set(chunk_ids)


def test_jobs_and_batch_items_keep_their_counters(kb: KnowledgeBase) -> None:
    with kb.write_session.begin() as session:
        job = jobs.create_job(
            session, kind=JobKind.BATCH, collection="", total=2, params={"max_tokens": 5},
            owner="runner-a",
        )  # fmt: skip
        jobs.add_batch_items(session, job_id=job.id, rows=[("a", "one?"), ("b", "two?")])
        job_id = job.id
    with kb.read_session() as session:
        assert jobs.claimable_job_ids(session, owner="runner-b", lease_s=0) == [job_id]
        pending = jobs.unanswered_batch_items(session, job_id=job_id)
    assert [(qid, q) for _, qid, q in pending] == [("a", "one?"), ("b", "two?")]
    with kb.write_session.begin() as session:
        jobs.record_batch_item(session, item_id=pending[0][0], result={"id": "a"}, error=None)
        jobs.record_batch_item(session, item_id=pending[1][0], result=None, error="too long")
        # A second process that also answered the item (it ran the job too) counts nothing.
        jobs.record_batch_item(session, item_id=pending[0][0], result={"id": "x"}, error=None)
        jobs.update_job(session, job_id=job_id, status=JobStatus.SUCCEEDED)
    with kb.read_session() as session:
        job = jobs.get_job(session, job_id=job_id)
        assert (job.done, job.failed, job.kind) == (2, 1, JobKind.BATCH)
        assert job.errors == [{"source": "b", "message": "too long"}]
        assert list(jobs.batch_outputs(session, job_id=job_id)) == [
            {"id": "a"},
            {"id": "b", "error": "too long"},
        ]
        assert jobs.claimable_job_ids(session, owner="runner-b", lease_s=0) == []
        with pytest.raises(NotFoundError):
            jobs.get_job(session, job_id=job_id + 1)


def test_feedback_needs_a_logged_answer(kb: KnowledgeBase) -> None:
    with kb.write_session.begin() as session:
        answer_log.log_answer(
            session, answer_id="abc", question="q", standalone_question="q", answer="a",
            retrieved_chunk_ids=[1], cited_chunk_ids=[1], grounded=True, refused=False,
            latency_ms=1.0, endpoint="ask",
        )  # fmt: skip
    with kb.write_session.begin() as session:
        assert answer_log.add_feedback(session, answer_id="abc", rating=1, comment="").id
        with pytest.raises(NotFoundError):
            answer_log.add_feedback(session, answer_id="nope", rating=1, comment="")


def test_api_keys_are_found_by_hash_only(kb: KnowledgeBase) -> None:
    with kb.read_session() as session:
        assert not api_keys.keys_exist(session)
    with kb.write_session.begin() as session:
        api_keys.add_key(
            session, name="n", prefix="rag_x", key_hash="h" * 64, collections=["a"],
            roles=["search"],
        )  # fmt: skip
    with kb.read_session() as session:
        assert api_keys.keys_exist(session)
        found = api_keys.find_key(session, key_hash="h" * 64)
        assert found is not None and (found.collections, found.roles) == (["a"], ["search"])
        assert api_keys.find_key(session, key_hash="0" * 64) is None
