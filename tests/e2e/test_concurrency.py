"""Parallel uploads, deletes and queries against one collection on a served app; afterwards
the store is consistent, every acknowledged and undeleted upload is searchable, and no
request failed with a 5xx (in particular no "database is locked")."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.local_server import serve_in_background
from rag.storage.doctor import diagnose
from tests.api.helpers import make_settings

DURATION_SECONDS = 15


@pytest.mark.slow
def test_parallel_uploads_deletes_and_queries(tmp_path: Path, database_url: str | None) -> None:
    settings = make_settings(tmp_path / "store", database_url)
    app = create_app(settings, load_llm=False)
    with serve_in_background(app) as base:
        run_mixed_traffic(app, base)


def run_mixed_traffic(app: FastAPI, base: str) -> None:
    stop = time.monotonic() + DURATION_SECONDS
    lock = threading.Lock()
    acknowledged: dict[str, int] = {}  # unique token -> job id
    deleted_sources: set[str] = set()
    statuses: list[int] = []
    failures: list[str] = []

    def record(response: httpx.Response) -> None:
        with lock:
            statuses.append(response.status_code)
            if response.status_code >= 500 or "locked" in response.text:
                failures.append(f"{response.request.url}: {response.status_code} {response.text}")

    def uploader(worker: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            n = 0
            while time.monotonic() < stop:
                token = f"zq{worker}x{n}"
                n += 1
                body = f"Inventory note {token}: the spare part bin number {n} is full."
                response = client.post(
                    "/v1/documents",
                    files=[("files", (f"{token}.txt", body.encode(), "text/plain"))],
                    data={"collection": "conc"},
                )
                record(response)
                if response.status_code == 202:
                    with lock:
                        acknowledged[token] = response.json()["job_id"]

    def deleter() -> None:
        rng = random.Random(1)
        with httpx.Client(base_url=base, timeout=60) as client:
            while time.monotonic() < stop:
                listing = client.get("/v1/documents", params={"collection": "conc"})
                record(listing)
                items = listing.json().get("items", []) if listing.status_code == 200 else []
                if items:
                    victim = rng.choice(items)
                    response = client.delete(f"/v1/documents/{victim['id']}")
                    record(response)
                    if response.status_code == 204:
                        with lock:
                            deleted_sources.add(victim["source"])
                time.sleep(0.2)

    def searcher(worker: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            while time.monotonic() < stop:
                mode = ("hybrid", "dense", "lexical")[worker % 3]
                record(client.post("/v1/search", json={"query": "spare part bin", "mode": mode}))

    workers = [threading.Thread(target=uploader, args=(i,)) for i in range(3)]
    workers += [threading.Thread(target=deleter)]
    workers += [threading.Thread(target=searcher, args=(i,)) for i in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    with httpx.Client(base_url=base, timeout=60) as client:
        for job_id in set(acknowledged.values()):
            deadline = time.monotonic() + 300
            while client.get(f"/v1/jobs/{job_id}").json()["status"] not in {"succeeded", "failed"}:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded"
        missing = []
        for token in acknowledged:
            if f"upload://{token}.txt" in deleted_sources:
                continue
            hits = client.post(
                "/v1/search", json={"query": token, "mode": "lexical", "k": 1}
            ).json()["hits"]
            if not hits or hits[0]["source"] != f"upload://{token}.txt":
                missing.append(token)
    report = diagnose(app.state.rag.resources.kb)
    assert not failures, failures[:5]
    assert len(acknowledged) > 10 and len(statuses) > 50
    assert not missing, missing[:10]
    assert report.consistent, report.to_dict()
