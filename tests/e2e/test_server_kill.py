"""SIGKILL a served `rag serve` process during an upload job and during a batch job; after a
restart the jobs finish, nothing is duplicated and the store is consistent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.local_server import free_port
from rag.settings import Settings
from rag.storage.doctor import diagnose
from rag.storage.knowledge_base import KnowledgeBase

ROOT = Path(__file__).resolve().parents[2]


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT), RAG_INGEST__EMBED_GROUP_CHUNKS="4")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "--data-dir", str(self.data_dir), "serve",
             "--port", str(self.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 180
        while True:
            assert time.monotonic() < deadline, "server did not come up"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "store")
    yield running
    running.stop()


def wait_job(url: str, job_id: int, timeout: float = 600) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, object] = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=30).json()
        if job["status"] in {"succeeded", "failed"}:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


@pytest.mark.slow
def test_server_killed_during_upload_and_batch_recovers(server: Server) -> None:
    server.start()
    files = [
        ("files", (f"note-{i}.txt", " ".join([f"Shelf {i} holds part {j}." for j in range(400)])))
        for i in range(30)
    ]
    job_id = httpx.post(f"{server.url}/v1/documents", files=files, timeout=60).json()["job_id"]
    time.sleep(1.0)
    server.kill()  # mid-ingestion
    server.start()
    job = wait_job(server.url, job_id)
    assert job["status"] == "succeeded"
    documents = httpx.get(f"{server.url}/v1/documents", params={"limit": 100}).json()
    assert documents["total"] == 30
    assert len({d["source"] for d in documents["items"]}) == 30

    questions = [
        {"id": f"q{i}", "question": f"What does shelf {i} hold? Explain in detail."}
        for i in range(6)
    ]
    batch = httpx.post(
        f"{server.url}/v1/batches", json={"questions": questions, "max_tokens": 96}, timeout=60
    ).json()
    deadline = time.monotonic() + 300
    while httpx.get(f"{server.url}/v1/jobs/{batch['job_id']}").json()["done"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    server.kill()  # mid-batch, after at least one answer
    server.start()
    job = wait_job(server.url, batch["job_id"])
    assert job["status"] == "succeeded" and job["done"] == job["total"] == 6
    lines = httpx.get(f"{server.url}/v1/batches/{batch['job_id']}/results").text.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [q["id"] for q in questions]
    server.stop()

    kb = KnowledgeBase(Settings(data_dir=server.data_dir, _env_file=None))  # type: ignore[call-arg]
    try:
        assert diagnose(kb).consistent
    finally:
        kb.close()
