"""Behaviour that needs a real socket: a served app under uvicorn on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.local_server import serve_in_background
from rag.answering.llm import GenerationStats
from rag.settings import LLMSettings, Settings


@pytest.fixture
def served(sample_store: Settings) -> Iterator[tuple[str, Any]]:
    settings = sample_store.model_copy(update={"llm": LLMSettings(preset="tiny", n_threads=1)})
    app = create_app(settings)
    with serve_in_background(app) as base_url:
        yield base_url, app


def wait_until(predicate: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_disconnected_client_stops_its_generation(served: tuple[str, Any]) -> None:
    base_url, app = served
    state = app.state.rag
    llm = state.resources.llm
    produced: list[str] = []
    ended = threading.Event()
    original = llm.stream

    def recording_stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            for piece in original(*args, **kwargs):
                if not isinstance(piece, GenerationStats):
                    produced.append(piece)
                yield piece
        finally:
            ended.set()  # closed early by the stop flag, or finished

    llm.stream = recording_stream
    body = {
        "question": "Describe the history, events, courses and plans of the co-op in detail.",
        "stream": True,
        "max_tokens": 400,
    }
    with httpx.Client(base_url=base_url, timeout=120) as client:
        with client.stream("POST", "/v1/ask", json=body) as response:
            for line in response.iter_lines():
                if line.startswith("event: token"):
                    break  # hang up after the first token
        # Meanwhile the server stays responsive for search.
        assert client.post("/v1/search", json={"query": "brakes"}).status_code == 200
    wait_until(lambda: state.gate.depth == 0 and ended.is_set())
    assert 0 < len(produced) < 100  # of up to 400 tokens asked for
    llm.stream = original


def test_search_answers_while_an_answer_streams(served: tuple[str, Any]) -> None:
    base_url, app = served
    started = threading.Event()
    finished = threading.Event()

    def stream() -> None:
        body = {"question": "Describe the co-op's history in detail.", "stream": True,
                "max_tokens": 200}  # fmt: skip
        with (
            httpx.Client(base_url=base_url, timeout=300) as other,
            other.stream("POST", "/v1/ask", json=body) as response,
        ):
            for line in response.iter_lines():
                if line.startswith("event: token"):
                    started.set()
        finished.set()

    worker = threading.Thread(target=stream)
    worker.start()
    assert started.wait(timeout=120)
    with httpx.Client(base_url=base_url, timeout=60) as client:
        statuses = []
        while not finished.is_set() and len(statuses) < 20:
            statuses.append(client.post("/v1/search", json={"query": "opening hours"}).status_code)
            statuses.append(client.get("/healthz").status_code)
    worker.join()
    assert statuses and set(statuses) == {200}
    assert app.state.rag.gate.depth == 0
