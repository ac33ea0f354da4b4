"""A bounded schemathesis run against the served OpenAPI schema: no input gives a 500."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from api.app import create_app
from tests.api.test_http import make_settings
from tests.conftest import SAMPLE_DATA

EXAMPLES_PER_OPERATION = 8


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    app = create_app(make_settings(root / "store", max_upload_bytes=100_000))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    app.state.rag.resources.ingestor.ingest_paths([SAMPLE_DATA / "handbook.md"])
    yield f"http://127.0.0.1:{port}"
    app.state.rag.jobs.shutdown()
    server.should_exit = True
    thread.join(timeout=30)


@pytest.mark.slow
def test_no_input_makes_the_server_fail(base_url: str) -> None:
    # Driven by hand rather than through schemathesis' pytest plugin, which does not load
    # under pytest 9.
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    tried: list[str] = []
    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def exercise(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        exercise()
        tried.append(operation.label)
    assert len(tried) == len(operations)
