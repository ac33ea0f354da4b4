"""Helpers shared by the HTTP tests: settings for a temp store, uploads, job polling, SSE."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from rag.settings import ApiSettings, LLMSettings, Settings
from tests.conftest import SAMPLE_DATA

QUESTION = "How much does a yearly membership cost?"


def make_settings(data_dir: Path, database_url: str | None = None, **api: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        data_dir=data_dir,
        database_url=database_url,
        llm=LLMSettings(max_tokens=64),
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


def upload_sample_data(client: TestClient) -> None:
    """Upload every file of ``data/`` and wait until the job has ingested all of them."""
    files = [(p.name, p.read_bytes()) for p in sorted(SAMPLE_DATA.iterdir())]
    response = upload(client, files)
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["job_id"])
    assert job["status"] == "succeeded" and job["failed"] == 0, job


def parse_sse(text: str) -> list[tuple[str | None, str]]:
    """(event, data) pairs; comment-only blocks (the keep-alive ``: ping`` a slow first token
    brings) are not events, as in the SSE spec."""
    events = []
    for block in text.strip().split("\n\n"):
        name, data, fields = None, "", 0
        for line in block.splitlines():
            if line.startswith("event: "):
                name, fields = line[7:], fields + 1
            elif line.startswith("data: "):
                data, fields = line[6:], fields + 1
        if fields:
            events.append((name, data))
    return events


def dead_process_owner() -> str:
    """A job lease owner that was a process on this host and has exited (as a killed
    server leaves its jobs)."""
    import subprocess

    from rag.storage.jobs import owner_id

    finished = subprocess.Popen(["true"])
    finished.wait()
    return owner_id("killed").replace(f":{os.getpid()}:", f":{finished.pid}:")
