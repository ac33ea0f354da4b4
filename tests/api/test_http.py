"""The HTTP API against the real app: real models, SQLite and FAISS under a temp dir."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from rag.settings import ApiSettings, LLMSettings, Settings
from tests.conftest import SAMPLE_DATA

QUESTION = "How much does a yearly membership cost?"


def make_settings(data_dir: Path, **api: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        data_dir=data_dir,
        llm=LLMSettings(n_threads=2, max_tokens=48),
        api=ApiSettings(**api),
        _env_file=None,
    )


def wait_for_job(client: TestClient, job_id: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in {"succeeded", "failed"}:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def upload(client: TestClient, files: list[tuple[str, bytes]], collection: str | None = None):
    data = {"collection": collection} if collection else {}
    return client.post(
        "/v1/documents",
        files=[("files", (name, body, "application/octet-stream")) for name, body in files],
        data=data,
    )


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("api")
    allowed = root / "allowed"
    allowed.mkdir()
    (allowed / "note.txt").write_text("The courtyard gate code changes every March.")
    settings = make_settings(
        root / "store", max_upload_bytes=200_000, ingest_roots=[allowed], llm_queue_size=1
    )
    with TestClient(create_app(settings)) as test_client:
        files = [(p.name, p.read_bytes()) for p in sorted(SAMPLE_DATA.iterdir())]
        response = upload(test_client, files)
        assert response.status_code == 202, response.text
        job = wait_for_job(test_client, response.json()["job_id"])
        assert job["status"] == "succeeded" and job["failed"] == 0, job
        test_client.allowed_root = allowed  # type: ignore[attr-defined]
        yield test_client


def test_health_ready_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["faiss_consistent"] and body["fts_consistent"] and body["chunks"] > 0
    client.post("/v1/search", json={"query": "brakes"})
    metrics = client.get("/metrics").text
    assert 'rag_http_request_seconds_count{method="POST",route="/v1/search"' in metrics
    assert "rag_llm_queue_depth" in metrics


def test_upload_then_searchable_and_identical_upload_changes_nothing(client: TestClient) -> None:
    text = b"The blue repair stand is reserved for wheel building on Fridays."
    first = wait_for_job(client, upload(client, [("stand.txt", text)], "uploads").json()["job_id"])
    assert first["summary"]["added"] == 1
    hits = client.post(
        "/v1/search",
        json={"query": "wheel building Fridays", "filters": {"collections": ["uploads"]}},
    ).json()["hits"]
    assert hits and hits[0]["source"] == "upload://stand.txt"
    listing = client.get("/v1/documents", params={"collection": "uploads"}).json()
    again = wait_for_job(client, upload(client, [("stand.txt", text)], "uploads").json()["job_id"])
    assert again["summary"]["unchanged"] == 1 and again["summary"]["added"] == 0
    assert client.get("/v1/documents", params={"collection": "uploads"}).json() == listing


def test_upload_limits_and_path_tricks(client: TestClient) -> None:
    too_big = upload(client, [("big.txt", b"x" * 200_001)], "limits")
    assert too_big.status_code == 413
    assert too_big.json()["error"]["type"] == "FileTooLargeError"
    wrong_type = upload(client, [("image.png", b"\x89PNG....")], "limits")
    assert wrong_type.status_code == 415
    assert ".png" in wrong_type.json()["error"]["message"]
    tricky = upload(
        client,
        [("../../etc/evil.txt", b"first file"), ("dir\\evil.txt", b"second file"),
         ("caf\u00e9.md", b"# Caf\u00e9\nUnicode name")],
        "limits",
    )  # fmt: skip
    job = wait_for_job(client, tricky.json()["job_id"])
    assert job["failed"] == 0, job
    sources = {d["source"] for d in client.get("/v1/documents?collection=limits").json()["items"]}
    assert sources == {"upload://evil.txt", "upload://evil (2).txt", "upload://café.md"}
    dots = upload(client, [("..", b"text")], "limits")
    assert dots.status_code == 422 and "file name" in dots.json()["error"]["message"]
    corrupt = upload(
        client, [("broken.pdf", b"%PDF-1.4 garbage"), ("ok.txt", b"fine text")], "limits"
    )
    job = wait_for_job(client, corrupt.json()["job_id"])
    assert job["failed"] == 1 and job["summary"]["added"] == 1
    assert job["errors"][0]["source"] == "upload://broken.pdf"


def test_documents_list_get_delete(client: TestClient) -> None:
    page = client.get("/v1/documents", params={"limit": 2, "offset": 1}).json()
    assert len(page["items"]) == 2 and page["total"] >= 15 and page["offset"] == 1
    job = wait_for_job(
        client, upload(client, [("temp.txt", b"Delete me soon.")], "temp").json()["job_id"]
    )
    assert job["status"] == "succeeded"
    doc = client.get("/v1/documents", params={"collection": "temp"}).json()["items"][0]
    detail = client.get(f"/v1/documents/{doc['id']}").json()
    assert detail["chunks"] == 1 and detail["source"] == "upload://temp.txt"
    assert client.delete(f"/v1/documents/{doc['id']}").status_code == 204
    missing = client.get(f"/v1/documents/{doc['id']}")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "NotFoundError"
    assert client.get("/readyz").json()["faiss_consistent"]


def test_collections_create_list_delete(client: TestClient) -> None:
    assert client.post("/v1/collections", json={"name": "fresh"}).status_code == 201
    assert client.post("/v1/collections", json={"name": "fresh"}).status_code == 409
    assert client.post("/v1/collections", json={"name": "../bad"}).status_code == 422
    names = {c["name"] for c in client.get("/v1/collections").json()}
    assert {"fresh", "default"} <= names
    assert client.delete("/v1/collections/fresh").status_code == 204
    assert client.delete("/v1/collections/fresh").status_code == 404


def test_ingest_server_path_only_under_allowed_roots(client: TestClient) -> None:
    outside = client.post("/v1/documents/ingest-path", json={"path": "/etc"})
    assert outside.status_code == 422
    root = client.allowed_root  # type: ignore[attr-defined]
    accepted = client.post(
        "/v1/documents/ingest-path", json={"path": str(root), "collection": "server"}
    )
    assert accepted.status_code == 202
    job = wait_for_job(client, accepted.json()["job_id"])
    assert job["summary"]["added"] == 1


def test_search_validation_and_filters(client: TestClient) -> None:
    response = client.post("/v1/search", json={"query": "opening hours", "k": 3, "mode": "hybrid"})
    body = response.json()
    assert body["hits"][0]["source"].endswith("handbook.md")
    assert set(body["hits"][0]) >= {"dense_score", "lexical_score", "fused_score", "section"}
    assert client.post("/v1/search", json={"query": "x", "k": 1000}).status_code == 422
    assert client.post("/v1/search", json={"query": "x", "mode": "magic"}).status_code == 422
    assert (
        client.post("/v1/search", json={"query": ""}).json()["error"]["type"] == "ValidationError"
    )
    only_pdf = client.post(
        "/v1/search", json={"query": "money", "k": 5, "filters": {"source_glob": "*.pdf"}}
    ).json()["hits"]
    assert only_pdf and all(h["source"].endswith(".pdf") for h in only_pdf)


def test_ask_returns_citations_and_feedback_is_stored(client: TestClient) -> None:
    response = client.post("/v1/ask", json={"question": QUESTION, "max_tokens": 40})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["citations"] and not body["refused"]
    assert any(c["source"].endswith("handbook.md") for c in body["citations"])
    assert body["timings"]["prompt_tokens"] > 0
    feedback = client.post(
        "/v1/feedback", json={"answer_id": body["answer_id"], "rating": 1, "comment": "good"}
    )
    assert feedback.status_code == 201
    unknown = client.post("/v1/feedback", json={"answer_id": "nope", "rating": 1})
    assert unknown.status_code == 404
    too_long = client.post("/v1/ask", json={"question": "x" * 5000})
    assert too_long.status_code == 422


def parse_sse(text: str) -> list[tuple[str | None, str]]:
    events = []
    for block in text.strip().split("\n\n"):
        name, data = None, ""
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        events.append((name, data))
    return events


def test_ask_stream_sends_tokens_then_citations_then_done(client: TestClient) -> None:
    with client.stream(
        "POST", "/v1/ask", json={"question": QUESTION, "stream": True, "max_tokens": 40}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join(response.iter_text())
    events = parse_sse(text)
    names = [name for name, _ in events]
    assert names[-2:] == ["citations", "done"]
    assert set(names[:-2]) == {"token"} and len(names) > 3
    citations = json.loads(events[-2][1])["citations"]
    assert any(c["source"].endswith("handbook.md") for c in citations)
    done = json.loads(events[-1][1])
    assert (
        done["answer"] == "".join(json.loads(d)["text"] for n, d in events if n == "token").strip()
    )


def test_full_llm_queue_answers_429_with_retry_after(client: TestClient) -> None:
    gate = client.app.state.rag.gate  # type: ignore[attr-defined]
    with contextlib.ExitStack() as held:
        for _ in range(gate.capacity):
            held.enter_context(gate.slot())
        busy = client.post("/v1/ask", json={"question": QUESTION})
        assert busy.status_code == 429
        assert busy.headers["retry-after"] == "5"
        assert busy.json()["error"]["type"] == "BusyError"
        streaming = client.post("/v1/ask", json={"question": QUESTION, "stream": True})
        assert streaming.status_code == 429
        # Search never waits for the LLM.
        assert client.post("/v1/search", json={"query": "brakes"}).status_code == 200
    assert gate.depth == 0


def test_openai_client_gets_answers_with_citations(client: TestClient) -> None:
    import openai

    oa = openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client)
    models = [m.id for m in oa.models.list().data]
    assert "default" in models
    completion = oa.chat.completions.create(
        model="default", messages=[{"role": "user", "content": QUESTION}], max_tokens=40
    )
    assert completion.choices[0].message.content
    extra = completion.model_extra or {}
    assert any(c["source"].endswith("handbook.md") for c in extra["citations"])
    stream = oa.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=40,
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert any(c["source"].endswith("handbook.md") for c in (last.model_extra or {})["citations"])
    embedding = oa.embeddings.create(model="default", input=["brake pads", "tyre"])
    assert len(embedding.data) == 2 and len(embedding.data[0].embedding) == 384


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


def test_api_keys_scope_collections(tmp_path: Path, sample_dir: Path) -> None:
    from api.auth import create_key
    from rag.storage.knowledge_base import KnowledgeBase

    settings = make_settings(tmp_path / "auth-store")
    with TestClient(create_app(settings, load_llm=False)) as client:
        for collection, name, text in [
            ("red", "red.txt", b"Red team secret: the spare keys are under the workbench."),
            ("blue", "blue.txt", b"Blue team note: the spare tubes are in the blue box."),
        ]:
            wait_for_job(client, upload(client, [(name, text)], collection).json()["job_id"])
        kb = KnowledgeBase(settings)
        with kb.write_session.begin() as session:
            _, blue_key = create_key(session, collections=["blue"])
        kb.close()
        assert client.get("/v1/documents").status_code == 401
        assert (
            client.get("/v1/documents", headers={"Authorization": "Bearer wrong"}).status_code
            == 401
        )
        headers = {"Authorization": f"Bearer {blue_key}"}
        docs = client.get("/v1/documents", headers=headers).json()["items"]
        assert {d["collection"] for d in docs} == {"blue"}
        red_doc = client.get(
            "/v1/documents", headers={"X-API-Key": blue_key}, params={"collection": "red"}
        )
        assert red_doc.status_code == 404
        hits = client.post(
            "/v1/search", headers=headers, json={"query": "spare keys workbench", "k": 10}
        ).json()["hits"]
        assert hits and {h["collection"] for h in hits} == {"blue"}
        forced = client.post(
            "/v1/search",
            headers=headers,
            json={"query": "spare keys", "filters": {"collections": ["red"]}},
        ).json()["hits"]
        assert forced == []
        models = [m["id"] for m in client.get("/v1/models", headers=headers).json()["data"]]
        assert "red" not in models and "blue" in models


def test_interrupted_job_is_resumed_after_restart(tmp_path: Path) -> None:
    from rag.storage import jobs
    from rag.storage.knowledge_base import KnowledgeBase
    from rag.storage.models import JobKind, JobStatus

    settings = make_settings(tmp_path / "restart-store")
    kb = KnowledgeBase(settings)
    stored = settings.uploads_dir / "interrupted" / "00000"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"Saddle height is set with the seat post clamp.")
    with kb.write_session.begin() as session:
        job = jobs.create_job(session, kind=JobKind.INGEST, collection="default", total=1)
        job.status = JobStatus.RUNNING  # as a killed server would have left it
        job.params = {"files": [{"path": str(stored), "name": "saddle.txt",
                                 "source": "upload://saddle.txt"}]}  # fmt: skip
        job_id = job.id
    kb.close()
    with TestClient(create_app(settings, load_llm=False)) as client:
        finished = wait_for_job(client, job_id)
        assert finished["status"] == "succeeded" and finished["summary"]["added"] == 1
        hits = client.post("/v1/search", json={"query": "seat post clamp"}).json()["hits"]
        assert hits[0]["source"] == "upload://saddle.txt"


def test_interrupted_batch_resumes_without_repeating_answers(tmp_path: Path) -> None:
    from rag.storage import jobs
    from rag.storage.knowledge_base import KnowledgeBase
    from rag.storage.models import BatchItem, JobKind, JobStatus

    settings = make_settings(tmp_path / "batch-restart")
    kb = KnowledgeBase(settings)
    with kb.write_session.begin() as session:
        job = jobs.create_job(session, kind=JobKind.BATCH, collection="", total=3)
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


def test_cors_origins_are_configurable(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "cors", cors_origins=["http://chat.local"])
    with TestClient(create_app(settings, load_llm=False)) as client:
        preflight = client.options(
            "/v1/search",
            headers={"Origin": "http://chat.local", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.headers["access-control-allow-origin"] == "http://chat.local"
        other = client.get("/healthz", headers={"Origin": "http://evil.local"})
        assert "access-control-allow-origin" not in other.headers


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
