"""Generation on a pool of real llama.cpp server processes (the tiny model: these tests are
about routing, failures and equal answers, not answer quality)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.local_server import free_port
from rag.answering.answerer import Answerer
from rag.answering.answers import Answer, FinalEvent, TokenEvent
from rag.answering.llm import ChatMessage, GenerationStats, LlamaCppLLM
from rag.answering.llm_servers import LLMPool, load_generator
from rag.embedding import Embedder
from rag.errors import LLMServerError
from rag.retrieval.retriever import Retriever
from rag.settings import ApiSettings, LLMSettings, Settings
from rag.storage.knowledge_base import KnowledgeBase
from tests.llm_servers import LlamaServerProcess

pytestmark = pytest.mark.slow

TINY = LLMSettings(preset="tiny", max_tokens=96)
QUESTIONS = [
    "What are the opening hours on Saturday?",
    "How do I fix a flat tyre?",
    "How much does the bike service cost?",
]
RAMBLE = "Tell me a long story about a bicycle journey across the mountains, in detail."


@pytest.fixture(scope="module")
def two_servers() -> Iterator[list[LlamaServerProcess]]:
    servers = [LlamaServerProcess(TINY), LlamaServerProcess(TINY)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def tiny_local() -> LlamaCppLLM:
    return LlamaCppLLM(TINY)


def pool_of(*urls: str) -> LLMPool:
    pool = load_generator(TINY.model_copy(update={"servers": list(urls)}))
    assert isinstance(pool, LLMPool)
    return pool


def generated(answerer: Answerer, question: str) -> tuple[str, Answer]:
    """What the model wrote (before the checks may turn it into a refusal) and the answer."""
    events = list(answerer.stream(question))
    final = events[-1]
    assert isinstance(final, FinalEvent)
    return "".join(e.text for e in events if isinstance(e, TokenEvent)), final.answer


def test_pool_answers_equal_in_process_answers(
    two_servers: list[LlamaServerProcess],
    tiny_local: LlamaCppLLM,
    sample_kb: KnowledgeBase,
    embedder: Embedder,
) -> None:
    # The verification pass on, although tiny skips it by default: its P(yes) on a server
    # (one-token requests) must equal the in-process one.
    verifying = sample_kb.settings.answer.model_copy(update={"verify": True})
    settings = sample_kb.settings.model_copy(update={"llm": TINY, "answer": verifying})
    retriever = Retriever(sample_kb, embedder, settings.retrieval)
    pool = pool_of(*(s.url for s in two_servers))
    local = Answerer(retriever=retriever, llm=tiny_local, embedder=embedder, settings=settings)
    pooled = Answerer(retriever=retriever, llm=pool, embedder=embedder, settings=settings)
    lengths, verified = [], 0
    for question in QUESTIONS:
        expected_text, expected = generated(local, question)
        got_text, got = generated(pooled, question)
        assert got_text == expected_text and got_text, question
        lengths.append(len(got_text))
        assert got.answer == expected.answer
        assert (got.refused, got.refusal_reason) == (expected.refused, expected.refusal_reason)
        assert [c.chunk_id for c in got.citations] == [c.chunk_id for c in expected.citations]
        assert got.timings["completion_tokens"] == expected.timings["completion_tokens"]
        if "verification_yes" in expected.timings:
            verified += 1
            assert got.timings["verification_yes"] == pytest.approx(
                expected.timings["verification_yes"], abs=0.01
            )
    assert max(lengths) > 20  # at least one generation long enough to tell apart
    assert verified > 0  # and the verification pass compared at least once
    # An idle pool spreads its calls over both servers.
    assert all(member.llm.calls > 0 for member in pool.members)


def text_of(pieces: Iterator[str | GenerationStats]) -> str:
    return "".join(p for p in pieces if isinstance(p, str))


def test_least_busy_routing_and_waiting_behind_a_busy_server(
    two_servers: list[LlamaServerProcess], tiny_local: LlamaCppLLM
) -> None:
    pool = pool_of(*(s.url for s in two_servers))
    prompt = tiny_local.render([ChatMessage("user", RAMBLE)])
    alone = text_of(pool.stream(prompt, max_tokens=120))
    first = pool.stream(prompt, max_tokens=120)
    first_text = [next(first)]  # streaming: one server is busy now
    second = pool.stream(prompt, max_tokens=120)
    second_text = [next(second)]
    assert [m.in_flight for m in pool.members] == [1, 1]  # the second went to the idle one
    with ThreadPoolExecutor(max_workers=1) as executor:
        # Both busy: the third call queues on a server, which finishes the stream it is
        # generating first (a server that cut it short for the newcomer would fail this).
        third = executor.submit(lambda: text_of(pool.stream(prompt, max_tokens=8)))
        deadline = time.monotonic() + 60
        while sum(m.in_flight for m in pool.members) < 3 and not third.done():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert sorted(m.in_flight for m in pool.members) == [1, 2]  # queued on a busy one
        first_text += [p for p in first if isinstance(p, str)]
        second_text += [p for p in second if isinstance(p, str)]
        assert "".join(first_text) == "".join(second_text) == alone
        assert alone.startswith(third.result(timeout=60))
    assert [m.in_flight for m in pool.members] == [0, 0]


def test_a_server_killed_mid_stream_fails_that_answer_and_not_the_next(
    two_servers: list[LlamaServerProcess], tiny_local: LlamaCppLLM
) -> None:
    prompt = tiny_local.render([ChatMessage("user", RAMBLE)])
    with LlamaServerProcess(TINY) as victim:
        pool = pool_of(victim.url, two_servers[0].url)
        for member in pool.members:  # a hang would wait this long; the test allows 60 s
            member.llm._client.timeout = httpx.Timeout(600.0)
        stream = pool.stream(prompt, max_tokens=400)  # an idle pool starts with its first
        assert isinstance(next(stream), str)
        assert pool.members[0].in_flight == 1
        victim.kill()
        started = time.monotonic()
        with pytest.raises(LLMServerError, match="failed mid-answer"):
            for _ in stream:
                pass
        assert time.monotonic() - started < 60  # an error at once, not a read timeout
        down, healthy = pool.members
        assert down.down_until > time.monotonic() and down.last_error
        # The next answers go to the healthy server, without a failed attempt first.
        pieces = list(pool.stream(prompt, max_tokens=16))
        assert isinstance(pieces[-1], GenerationStats) and healthy.llm.calls == 1
        assert [s.up for s in pool.status()] == [False, True]


def test_readyz_names_an_unreachable_server(
    two_servers: list[LlamaServerProcess], sample_store: Settings
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"

    def readyz(servers: list[str]) -> tuple[int, dict[str, object]]:
        llm = TINY.model_copy(update={"servers": servers})
        settings = sample_store.model_copy(update={"llm": llm})
        with TestClient(create_app(settings)) as client:
            response = client.get("/readyz")
            return response.status_code, response.json()

    status, report = readyz([two_servers[0].url, closed])
    assert status == 200 and report["status"] == "ready"
    up, down = report["llm_servers"]  # type: ignore[misc]
    assert (up["name"], up["up"]) == (two_servers[0].url, True)
    assert (down["name"], down["up"]) == (closed, False)
    assert "Connect" in down["error"]
    status, report = readyz([closed])
    assert status == 503 and report["status"] == "not ready"


def test_a_full_pool_answers_429_and_a_free_one_answers(
    two_servers: list[LlamaServerProcess], sample_store: Settings
) -> None:
    llm = TINY.model_copy(update={"servers": [s.url for s in two_servers]})
    settings = sample_store.model_copy(update={"llm": llm, "api": ApiSettings(llm_queue_size=0)})
    with TestClient(create_app(settings)) as client:
        gate = client.app.state.rag.gate  # type: ignore[attr-defined]
        assert gate.capacity == 2  # one place per server, no queue
        question = {"question": QUESTIONS[0]}
        held = threading.Event()
        release = threading.Event()

        def hold() -> None:
            with gate.slot():
                held.set()
                release.wait(60)

        with ThreadPoolExecutor(max_workers=2) as executor:
            for _ in range(2):
                held.clear()
                executor.submit(hold)
                assert held.wait(10)
            refused = client.post("/v1/ask", json=question)
            assert refused.status_code == 429 and refused.headers["Retry-After"]
            release.set()
        answered = client.post("/v1/ask", json=question)
        assert answered.status_code == 200, answered.text


def test_a_chat_client_gets_an_error_event_when_its_server_dies(sample_store: Settings) -> None:
    question = "Explain step by step, in great detail, everything about fixing a flat tyre."
    with LlamaServerProcess(TINY) as victim:
        llm = TINY.model_copy(update={"servers": [victim.url], "max_tokens": 400})
        settings = sample_store.model_copy(update={"llm": llm})
        with TestClient(create_app(settings)) as client:
            body = {"question": question, "stream": True, "max_tokens": 400}
            events: list[str] = []
            with client.stream("POST", "/v1/ask", json=body) as response:
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        events.append(line.removeprefix("event:").strip())
                        if events == ["token"]:
                            victim.kill()
                    elif line.startswith("data:") and events[-1] == "error":
                        error = line
            assert events[0] == "token" and events[-1] == "error" and "done" not in events
            assert "LLMServerError" in error and "mid-answer" in error
            ready = client.get("/readyz").json()
            assert ready["status"] == "not ready"
            assert ready["llm_servers"][0]["up"] is False
