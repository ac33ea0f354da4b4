"""The default model on the sample data, as a new user would try it (slow: real generation).

The three questions a first look at the tiny model got wrong: a looping how-to, an empty
answer where the documents hold nothing, and a wrong number delivered with a citation."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from rag.answering.answerer import Answerer
from rag.settings import Settings

pytestmark = pytest.mark.slow


def test_how_to_fix_a_flat_tyre_is_a_cited_answer(rag_pipeline: Answerer) -> None:
    answer = rag_pipeline.ask("How do I fix a flat tyre?")
    assert not answer.refused and not answer.looped, answer
    # The steps sit under four headings: an answer names more than the first of them.
    steps = ("wheel", "puncture", "patch", "tube", "inflat")
    assert sum(step in answer.answer.lower() for step in steps) >= 2, answer.answer
    assert {c.source.rsplit("/", 1)[-1] for c in answer.citations} == {"repair-flat-tire.md"}


def test_how_often_to_oil_the_chain_is_refused_because_the_documents_do_not_say(
    rag_pipeline: Answerer,
) -> None:
    answer = rag_pipeline.ask("How often should I lubricate the chain?")
    assert answer.refused, answer
    assert answer.refusal_reason in {"model_declined", "unsupported"}


def test_saturday_hours_through_the_openai_endpoint(sample_store: Settings) -> None:
    with TestClient(create_app(sample_store)) as client:
        body = client.post(
            "/v1/chat/completions",
            json={
                "messages": [{"role": "user", "content": "What are the opening hours on Saturday?"}]
            },
        ).json()
    content = body["choices"][0]["message"]["content"]
    assert "10:00" in content and "16:00" in content and "17:30" not in content, body
    assert not body["rag"]["refused"]
    assert [c["source"].rsplit("/", 1)[-1] for c in body["citations"]] == ["handbook.md"]
