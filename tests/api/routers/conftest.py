"""One served app with the sample data uploaded, shared by the router tests: one on a SQLite
store, one on a PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.helpers import make_settings, upload, wait_for_job
from tests.conftest import BACKENDS, SAMPLE_DATA, database_url_for


@pytest.fixture(scope="package", params=BACKENDS)
def client(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp(f"api-{request.param}")
    allowed = root / "allowed"
    allowed.mkdir()
    (allowed / "note.txt").write_text("The courtyard gate code changes every March.")
    settings = make_settings(
        root / "store", database_url_for(request.param, request),
        max_upload_bytes=200_000, ingest_roots=[allowed], llm_queue_size=1,
    )  # fmt: skip
    with TestClient(create_app(settings)) as test_client:
        files = [(p.name, p.read_bytes()) for p in sorted(SAMPLE_DATA.iterdir())]
        response = upload(test_client, files)
        assert response.status_code == 202, response.text
        job = wait_for_job(test_client, response.json()["job_id"])
        assert job["status"] == "succeeded" and job["failed"] == 0, job
        test_client.allowed_root = allowed  # type: ignore[attr-defined]
        yield test_client
