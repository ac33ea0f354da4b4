"""Batch jobs: JSON and JSONL uploads, results, resume after a restart."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.helpers import QUESTION, dead_process_owner, make_settings, wait_for_job


def test_batch_job_answers_every_question_and_results_download(client: TestClient) -> None:
    response = client.post(
        "/v1/batches",
        json={
            "questions": [{"id": "q1", "question": QUESTION}, "What is quantum chromodynamics?"],
            "max_tokens": 32,
        },
    )
    assert response.status_code == 202
    job = wait_for_job(client, response.json()["job_id"], timeout=300)
    assert job["done"] == job["total"] == 2
    lines = client.get(f"/v1/batches/{job['id']}/results").text.strip().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["id"] for r in rows] == ["q1", "1"]
    assert rows[0]["citations"] and rows[1]["refused"]


def test_batch_from_a_jsonl_upload(client: TestClient) -> None:
    lines = (
        b'{"id": "m1", "question": "What is the capital of Mongolia?"}\n'
        b'not json\n"Who wrote Hamlet?"\n'
    )
    response = client.post(
        "/v1/batches/upload", files={"file": ("questions.jsonl", lines, "application/jsonl")}
    )
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["job_id"], timeout=300)
    assert job["total"] == 2 and job["done"] == 2
    rows = [json.loads(x) for x in client.get(f"/v1/batches/{job['id']}/results").text.splitlines()]
    assert [r["id"] for r in rows] == ["m1", "3"]  # a row without an id: its line number
    empty = client.post(
        "/v1/batches/upload", files={"file": ("q.jsonl", b"nope\n", "application/jsonl")}
    )
    assert empty.status_code == 422


def test_interrupted_batch_resumes_without_repeating_answers(tmp_path: Path) -> None:
    from rag.storage import jobs
    from rag.storage.knowledge_base import KnowledgeBase
    from rag.storage.models import BatchItem, JobKind, JobStatus

    settings = make_settings(tmp_path / "batch-restart")
    kb = KnowledgeBase(settings)
    with kb.write_session.begin() as session:
        job = jobs.create_job(
            session, kind=JobKind.BATCH, collection="", total=3, owner=dead_process_owner()
        )
        job.status = JobStatus.RUNNING
        job.done = 1
        job.params = {"collections": [], "max_tokens": 16}
        session.add(BatchItem(job_id=job.id, position=0, question_id="done",
                              question="old", result={"id": "done", "answer": "kept"}))  # fmt: skip
        for position, qid in ((1, "x"), (2, "y")):
            session.add(BatchItem(job_id=job.id, position=position, question_id=qid,
                                  question=f"What is the capital of country {qid}?"))  # fmt: skip
        job_id = job.id
    kb.close()
    with TestClient(create_app(settings, load_llm=False)) as client:
        finished = wait_for_job(client, job_id)
        assert finished["status"] == "succeeded" and finished["done"] == 3
        rows = [
            json.loads(x) for x in client.get(f"/v1/batches/{job_id}/results").text.splitlines()
        ]
        assert [r["id"] for r in rows] == ["done", "x", "y"]
        assert rows[0]["answer"] == "kept"  # answered before the restart, not asked again


def test_a_blank_question_in_a_json_batch_is_a_422_naming_it(client: TestClient) -> None:
    # Found by schemathesis: a question of only whitespace passed the schema and was a 500.
    response = client.post("/v1/batches", json={"questions": ["What is it?", "\t"]})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"] == "questions[1]: empty question"
