"""One served app with the sample data uploaded, shared by the router tests: one on a SQLite
store, one on a PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.helpers import make_settings, upload_sample_data
from tests.conftest import BACKENDS, database_url_for


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
        upload_sample_data(test_client)
        test_client.allowed_root = allowed  # type: ignore[attr-defined]
        yield test_client
