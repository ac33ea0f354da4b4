"""Two real `rag serve` processes on one PostgreSQL database, as two API replicas.

Each has its own data dir (its own FAISS file) and keeps its FAISS cache current from the
change log; jobs are leased to one process, and the job of a killed process is resumed by
the other.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from api.local_server import free_port, wait_until_ready

log = logging.getLogger(__name__)
RAG = str(Path(sys.executable).with_name("rag"))
pytestmark = pytest.mark.slow


class Replica:
    def __init__(self, name: str, database_url: str, data_dir: Path) -> None:
        self.name = name
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        environment = {
            **os.environ,
            "RAG_DATA_DIR": str(data_dir),
            "RAG_DATABASE_URL": database_url,
            "RAG_LLM__PRESET": "tiny",  # about the store, not about answers
            "RAG_STORE__JOB_LEASE_S": "3",
        }
        self.log = data_dir.with_suffix(".log")
        data_dir.mkdir(parents=True)
        self.process = subprocess.Popen(
            [RAG, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "wb"),  # noqa: SIM115  (closed with the process)
        )
        self.http = httpx.Client(base_url=self.base_url, timeout=60)

    def ready(self) -> None:
        wait_until_ready(self.base_url, self.process)

    def search(self, query: str) -> list[dict[str, Any]]:
        response = self.http.post("/v1/search", json={"query": query, "k": 3, "mode": "lexical"})
        assert response.status_code == 200, response.text
        return list(response.json()["hits"])

    def readyz(self) -> int:
        return self.http.get("/readyz").status_code

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


@pytest.fixture
def replicas(
    fresh_database: Callable[[], str], tmp_path: Path
) -> Iterator[tuple[Replica, Replica, str]]:
    url = fresh_database()
    with ExitStack() as stack:
        first = Replica("a", url, tmp_path / "a")
        stack.callback(first.stop)
        first.ready()  # the first one creates the schema; the second finds it current
        second = Replica("b", url, tmp_path / "b")
        stack.callback(second.stop)
        second.ready()
        yield first, second, url


def eventually(check: Callable[[], bool], *, within: float = 10.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if check():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not true within {within} s")


def upload(replica: Replica, files: list[tuple[str, bytes]]) -> int:
    response = replica.http.post(
        "/v1/documents",
        files=[("files", (name, body, "text/plain")) for name, body in files],
        data={"collection": "shared"},
    )
    assert response.status_code == 202, response.text
    return int(response.json()["job_id"])


def job(replica: Replica, job_id: int) -> dict[str, Any]:
    return dict(replica.http.get(f"/v1/jobs/{job_id}").json())


def doctor(url: str, data_dir: Path) -> dict[str, Any]:
    result = CliRunner().invoke(
        cli, ["--data-dir", str(data_dir), "--database-url", url, "doctor", "--json"]
    )
    return dict(json.loads(result.stdout))


def test_a_write_through_one_replica_is_seen_by_the_other(
    replicas: tuple[Replica, Replica, str], tmp_path: Path
) -> None:
    a, b, url = replicas
    job_id = upload(a, [("gate.txt", b"The courtyard gate code is 4711 until March.")])
    eventually(lambda: job(a, job_id)["status"] == "succeeded", within=60)
    seen_after = eventually(lambda: bool(b.search("courtyard gate code")))
    assert b.search("courtyard gate code")[0]["source"] == "upload://gate.txt"
    assert a.readyz() == 200 and b.readyz() == 200
    document_id = b.search("courtyard gate code")[0]["document_id"]
    assert b.http.delete(f"/v1/documents/{document_id}").status_code == 204
    gone_after = eventually(lambda: not a.search("courtyard gate code"))
    assert a.readyz() == 200 and b.readyz() == 200
    for replica in (a, b):
        report = doctor(url, tmp_path / replica.name)
        assert report["consistent"], report
    log.info("seen by the other replica after %.2f s, gone after %.2f s", seen_after, gone_after)


def test_the_job_of_a_killed_replica_is_finished_by_the_other(
    replicas: tuple[Replica, Replica, str], tmp_path: Path
) -> None:
    a, b, url = replicas
    # Enough text that embedding takes some seconds: the kill lands mid-job. Progress counts
    # documents read and chunked, which takes a fraction of a second; the embedding and
    # writing after it is the window in which the job is running with progress to show.
    files = [
        (
            f"note-{n:02}.txt",
            (f"Note {n}: the spare part number {n} lives in drawer {n}. " * 240).encode(),
        )
        for n in range(40)
    ]
    job_id = upload(a, files)

    def under_way() -> bool:
        state = job(a, job_id)
        return state["status"] == "running" and state["done"] > 0

    eventually(under_way, within=60)
    a.process.send_signal(signal.SIGKILL)
    a.process.wait(10)
    finished = eventually(lambda: job(b, job_id)["status"] == "succeeded", within=90)
    final = job(b, job_id)
    assert final["failed"] == 0, final
    assert b.readyz() == 200
    hits = b.search("spare part number drawer")
    assert hits
    report = doctor(url, tmp_path / "b")
    assert report["consistent"], report
    with httpx.Client(base_url=b.base_url) as client:
        listed = client.get("/v1/documents", params={"collection": "shared", "limit": 100})
        sources = [d["source"] for d in listed.json()["items"]]
    assert sorted(sources) == sorted(f"upload://{name}" for name, _ in files)  # no duplicates
    log.info("resumed and finished by the other replica %.1f s after the kill", finished)
