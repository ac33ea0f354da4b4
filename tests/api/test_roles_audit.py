"""Key roles (403 without the role, never another collection), the audit log and its export,
log retention, and answers that quote a deleted document."""

from __future__ import annotations

import json
import time
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from api.app import create_app
from api.auth import Role, create_key
from api.cli import app as cli
from api.services.audit import purge_old_logs
from rag.settings import LLMSettings, LogSettings, Settings
from rag.storage import answer_log, jobs
from rag.storage.knowledge_base import KnowledgeBase
from rag.storage.models import (
    AnswerLog,
    AuditEntry,
    BatchItem,
    Chunk,
    Feedback,
    Job,
    JobKind,
    JobStatus,
    utcnow,
)
from tests.api.helpers import make_settings, upload, wait_for_job
from tests.stores import cli_args

BLUE = b"Blue team note: the spare tubes are in the blue box by the door."
RED = b"Red team secret: the spare keys are under the workbench."


def make_key(settings: Settings, *roles: Role, collections: tuple[str, ...] = ("blue",)) -> str:
    with closing(KnowledgeBase(settings)) as kb, kb.write_session.begin() as session:
        _, token = create_key(session, collections=collections, roles=roles)
    return token


@pytest.fixture
def app_settings(tmp_path: Path) -> Settings:
    settings = make_settings(tmp_path / "store")
    return settings.model_copy(update={"llm": LLMSettings(preset="tiny", max_tokens=16)})


def seeded_client(settings: Settings) -> TestClient:
    client = TestClient(create_app(settings, load_llm=False))
    client.__enter__()
    for collection, name, text in [("blue", "blue.txt", BLUE), ("red", "red.txt", RED)]:
        wait_for_job(client, upload(client, [(name, text)], collection).json()["job_id"])
    return client


def calls(ids: dict[str, int]) -> list[tuple[Role, str, str, dict[str, Any]]]:
    """Every route with the role it needs (GET /v1/models takes search or ask: apart)."""
    return [
        (Role.SEARCH, "POST", "/v1/search", {"json": {"query": "spare tubes"}}),
        (Role.SEARCH, "GET", "/v1/documents", {}),
        (Role.SEARCH, "GET", f"/v1/documents/{ids['blue_doc']}", {}),
        (Role.SEARCH, "GET", "/v1/collections", {}),
        (Role.SEARCH, "POST", "/v1/embeddings", {"json": {"input": "spare tubes"}}),
        (Role.SEARCH, "GET", f"/v1/passages/{ids['blue_chunk']}", {}),
        (Role.ASK, "POST", "/v1/ask", {"json": {"question": "Where are the spare tubes?"}}),
        (Role.ASK, "POST", "/v1/feedback", {"json": {"answer_id": "none", "rating": 1}}),
        (Role.ASK, "POST", "/v1/chat/completions",
         {"json": {"model": "blue", "messages": [{"role": "user", "content": "Tubes?"}]}}),
        (Role.ASK, "POST", "/v1/batches", {"json": {"questions": ["Where are the tubes?"]}}),
        (Role.ASK, "GET", f"/v1/batches/{ids['batch_job']}/results", {}),
        (Role.ASK, "GET", f"/v1/jobs/{ids['batch_job']}", {}),
        (Role.INGEST, "POST", "/v1/documents",
         {"files": [("files", ("more.txt", BLUE + b" More.", "text/plain"))],
          "data": {"collection": "blue"}}),
        (Role.INGEST, "POST", "/v1/documents/ingest-path", {"json": {"path": "/nowhere"}}),
        (Role.INGEST, "GET", f"/v1/jobs/{ids['ingest_job']}", {}),
        (Role.ADMIN, "POST", "/v1/collections", {"json": {"name": "blue"}}),
        (Role.ADMIN, "GET", "/v1/reports/quality", {"params": {"collection": "blue"}}),
        (Role.ADMIN, "DELETE", f"/v1/documents/{ids['spare_doc']}", {}),
        (Role.ADMIN, "DELETE", "/v1/collections/blue", {}),
    ]  # fmt: skip


def test_each_route_refuses_a_key_without_its_role(app_settings: Settings) -> None:
    client = seeded_client(app_settings)
    try:
        docs = client.get("/v1/documents").json()["items"]  # no key exists yet: open
        by_source = {Path(d["source"]).name: d["id"] for d in docs}
        spare = upload(client, [("spare.txt", BLUE + b" Spare.")], "blue").json()["job_id"]
        wait_for_job(client, spare)
        batch = client.post("/v1/batches", json={"questions": ["Tubes?"], "collection": "blue"})
        ids = {
            "blue_doc": by_source["blue.txt"],
            "red_doc": by_source["red.txt"],
            "spare_doc": next(
                d["id"] for d in client.get("/v1/documents").json()["items"]
                if Path(d["source"]).name == "spare.txt"
            ),
            "ingest_job": spare,
            "batch_job": batch.json()["job_id"],
        }  # fmt: skip
        hits = client.post("/v1/search", json={"query": "spare", "k": 10}).json()["hits"]
        chunk_of = {h["collection"]: h["chunk_id"] for h in hits}
        ids |= {"blue_chunk": chunk_of["blue"], "red_chunk": chunk_of["red"]}
        keys = {role: make_key(app_settings, role) for role in Role}
        for needed, method, path, kwargs in calls(ids):
            for role, key in keys.items():
                headers = {"Authorization": f"Bearer {key}"}
                response = client.request(method, path, headers=headers, **kwargs)
                allowed = role in (needed, Role.ADMIN)
                assert (response.status_code == 403) != allowed, (role, method, path, response.text)
                if not allowed:
                    assert f"'{needed.value}' role" in response.json()["error"]["message"]
        for role in (Role.INGEST, Role.ADMIN):  # /v1/models: search or ask
            headers = {"Authorization": f"Bearer {keys[role]}"}
            expected = 403 if role is Role.INGEST else 200
            assert client.get("/v1/models", headers=headers).status_code == expected
        # The admin key of blue never reaches red: 404, not 403 (red's things stay unknown).
        admin = {"Authorization": f"Bearer {make_key(app_settings, Role.ADMIN)}"}
        assert client.delete(f"/v1/documents/{ids['red_doc']}", headers=admin).status_code == 404
        report = client.get("/v1/reports/quality", headers=admin, params={"collection": "red"})
        assert report.status_code == 404
        assert client.get("/v1/reports/quality", headers=admin).status_code == 422
        assert client.delete("/v1/collections/red", headers=admin).status_code == 404
        passage = client.get(f"/v1/passages/{ids['red_chunk']}", headers=admin)
        assert passage.status_code == 404 and "spare keys" not in passage.text
    finally:
        client.__exit__(None, None, None)


def test_the_audit_log_names_keys_never_tokens(app_settings: Settings) -> None:
    client = seeded_client(app_settings)
    try:
        token = make_key(app_settings, Role.ADMIN, collections=())
        headers = {"Authorization": f"Bearer {token}"}
        answered = client.post("/v1/ask", headers=headers, json={"question": "Mongolia?"})
        assert answered.status_code == 200
        docs = client.get("/v1/documents", headers=headers).json()["items"]
        red = next(d for d in docs if Path(d["source"]).name == "red.txt")
        assert client.delete(f"/v1/documents/{red['id']}", headers=headers).status_code == 204
        with closing(KnowledgeBase(app_settings)) as kb, kb.read_session() as session:
            key_id = session.scalars(select(AuditEntry.key_id)).all()[-1]
    finally:
        client.__exit__(None, None, None)
    result = CliRunner().invoke(cli, [*cli_args(app_settings), "audit", "--since", "2020-01-01"])
    assert result.exit_code == 0, result.output
    entries = [json.loads(line) for line in result.stdout.splitlines()]
    actions = [(e["action"], e["key_id"], e["collection"]) for e in entries]
    assert actions == [
        ("upload", None, "blue"),  # before any key existed: anonymous
        ("upload", None, "red"),
        ("answer", key_id, ""),
        ("delete_document", key_id, "red"),
    ]
    assert entries[2]["target"] == answered.json()["answer_id"]
    assert Path(entries[3]["detail"]["source"]).name == "red.txt"
    assert token not in result.stdout and token[:10] not in result.stdout


def test_old_answers_feedback_and_audit_rows_are_purged(kb: KnowledgeBase) -> None:
    old, recent = utcnow() - timedelta(days=100), utcnow() - timedelta(days=1)
    with kb.write_session.begin() as session:
        for answer_id, when in (("old", old), ("new", recent)):
            answer_log.log_answer(
                session, answer_id=answer_id, question="q", standalone_question="q",
                answer="a", retrieved_chunk_ids=[], cited_chunk_ids=[], grounded=False,
                refused=False, latency_ms=1.0, endpoint="ask", created_at=when,
            )  # fmt: skip
            session.add(AuditEntry(at=when, action="answer", target=answer_id))
            job = jobs.create_job(session, kind=JobKind.BATCH, collection="", owner="me")
            jobs.add_batch_items(session, job_id=job.id, rows=[("1", f"asked {answer_id}")])
            job.status, job.updated_at = JobStatus.SUCCEEDED, when
        running = jobs.create_job(session, kind=JobKind.BATCH, collection="", owner="me")
        running.updated_at = old  # unfinished: kept whatever its age
    with kb.write_session.begin() as session:
        answer_log.add_feedback(session, answer_id="old", rating=1, comment="")
    purged = purge_old_logs(kb, retention_days=90)
    assert purged == {"answers": 1, "audit_entries": 1, "jobs": 1}
    with kb.read_session() as session:
        assert session.scalars(select(AnswerLog.id)).all() == ["new"]
        assert session.scalars(select(AuditEntry.target)).all() == ["new"]
        assert session.scalars(select(Feedback.id)).all() == []
        assert session.scalars(select(BatchItem.question)).all() == ["asked new"]
        assert len(session.scalars(select(Job.id)).all()) == 2  # the recent and the running
    assert purge_old_logs(kb, retention_days=0) == {"answers": 0, "audit_entries": 0, "jobs": 0}


def test_the_api_process_purges_on_its_own(app_settings: Settings) -> None:
    settings = app_settings.model_copy(update={"log": LogSettings(retention_days=30)})
    with closing(KnowledgeBase(settings)) as kb, kb.write_session.begin() as session:
        session.add(AuditEntry(at=utcnow() - timedelta(days=31), action="upload"))
    with TestClient(create_app(settings, load_llm=False)):
        deadline = time.monotonic() + 30
        while True:
            with closing(KnowledgeBase(settings)) as kb, kb.read_session() as session:
                if not session.scalars(select(AuditEntry.id)).all():
                    break
            assert time.monotonic() < deadline, "the retention task did not purge"
            time.sleep(0.1)


def test_deleting_a_document_removes_its_text_from_cached_answers(
    kb: KnowledgeBase, ingestor: Any, sample_dir: Path
) -> None:
    ingestor.ingest_paths([sample_dir])
    with kb.read_session() as session:
        doomed, kept = session.execute(select(Chunk.document_id, Chunk.id).limit(1)).one(), None
        kept = session.execute(
            select(Chunk.id).where(Chunk.document_id != doomed[0]).limit(1)
        ).scalar_one()
    quote = "the quoted words"
    with kb.write_session.begin() as session:
        for answer_id, chunk in (("quotes", doomed[1]), ("other", kept)):
            answer_log.log_answer(
                session, answer_id=answer_id, question="q", standalone_question="q",
                answer=quote, retrieved_chunk_ids=[chunk], cited_chunk_ids=[chunk],
                grounded=True, refused=False, latency_ms=1.0, endpoint="batch",
            )  # fmt: skip
        job = jobs.create_job(session, kind=JobKind.BATCH, collection="", owner="me")
        jobs.add_batch_items(session, job_id=job.id, rows=[("1", "q")])
        item = session.scalars(select(BatchItem)).one()
        citation = {"chunk_id": doomed[1], "snippet": quote}
        result = {"id": "1", "answer_id": "quotes", "answer": quote, "citations": [citation]}
        jobs.record_batch_item(session, item_id=item.id, result=result, error=None)
    kb.delete_documents([doomed[0]])
    with kb.read_session() as session:
        texts = dict(session.execute(select(AnswerLog.id, AnswerLog.answer)).all())
        batch_result = session.scalars(select(BatchItem.result)).one()
    assert texts == {"quotes": answer_log.REDACTED, "other": quote}
    assert batch_result is not None and quote not in json.dumps(batch_result)
    assert batch_result["citations"][0]["snippet"] == ""
