"""/v1/ask (JSON and SSE), the LLM gate's 429, feedback."""

from __future__ import annotations

import contextlib
import json

from fastapi.testclient import TestClient

from rag.answering.words import CITATION_MARKER, without_citations
from tests.api.helpers import QUESTION, parse_sse


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
    streamed = "".join(json.loads(d)["text"] for n, d in events if n == "token").strip()
    # `done` carries the final text: the streamed words, with a [n] moved when the passage
    # holding the answer is another than the one the model named.
    assert without_citations(done["answer"]).split() == without_citations(streamed).split()
    marked = {int(n) for m in CITATION_MARKER.findall(done["answer"]) for n in m.split(",")}
    assert marked <= {c["number"] for c in citations}


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
