"""A bounded schemathesis run against the served OpenAPI schema: no input gives a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from api.app import create_app
from api.local_server import serve_in_background
from tests.api.helpers import make_settings
from tests.conftest import SAMPLE_DATA

EXAMPLES_PER_OPERATION = 8


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    app = create_app(make_settings(root / "store", max_upload_bytes=100_000))
    with serve_in_background(app, log_level="error") as url:
        app.state.rag.resources.ingestor.ingest_paths([SAMPLE_DATA / "handbook.md"])
        yield url


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
