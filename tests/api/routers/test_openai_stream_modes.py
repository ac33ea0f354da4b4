"""What a streaming OpenAI client receives in each stream mode: in `draft` the model's tokens
as they come (a refusal below them), in `checked` only the checked answer or the refusal.

The model is scripted, since the test is about the stream's shape; the app, the store, the
retrieval and the checks are the real ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.resources import Lazy
from rag.answering.answers import REFUSAL_TEXT
from tests.api.helpers import make_settings, upload_sample_data
from tests.scripted_llm import ScriptedLLM

QUESTION = "What are the opening hours on Saturday?"
# 18:00 is in no source: the fact check refuses the answer after the model said it.
INVENTED = ["Saturday", " from 10:00", " to 18:00 [1]."]
# The model cites a source the prompt did not hold: the checked answer drops the marker.
BAD_MARKER = ["Saturday", " from 10:00", " to 16:00 [7]."]


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app whose server-wide stream mode is `checked`, with the sample data."""
    settings = make_settings(tmp_path_factory.mktemp("stream-modes"), openai_stream="checked")
    with TestClient(create_app(settings)) as client:
        upload_sample_data(client)
        yield client


def streamed(client: TestClient, said: list[str], **extra_body: Any) -> tuple[list[str], dict]:
    """The content deltas and the extension of the last chunk, for a model saying ``said``."""
    import openai

    scripted = ScriptedLLM(said)
    resources = client.app.state.rag.resources  # type: ignore[attr-defined]
    resources.llm_model = Lazy(lambda: scripted)
    resources.__dict__.pop("answerer", None)  # built again around the scripted model
    oa = openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client)
    stream = oa.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        extra_body=extra_body or None,
    )
    chunks = list(stream)
    assert scripted.calls == 1 and chunks[-1].choices[0].finish_reason == "stop"
    deltas = [c.choices[0].delta.content for c in chunks if c.choices]
    return [d for d in deltas if d], chunks[-1].model_extra or {}


def test_a_checked_stream_sends_only_the_checked_answer(app_client: TestClient) -> None:
    deltas, extra = streamed(app_client, BAD_MARKER)
    assert deltas == [extra["rag"]["answer"]]
    assert "[7]" not in deltas[0] and "16:00" in deltas[0]
    assert extra["citations"] and not extra["rag"]["refused"]

    deltas, extra = streamed(app_client, INVENTED)
    assert deltas == [REFUSAL_TEXT]  # nothing of the refused draft reached the client
    assert extra["rag"]["refused"] and extra["rag"]["refusal_reason"] == "unsupported"


def test_a_draft_stream_sends_the_tokens_and_a_refusal_below_them(app_client: TestClient) -> None:
    deltas, extra = streamed(app_client, BAD_MARKER, rag_stream="draft")
    assert "".join(deltas) == "".join(BAD_MARKER)  # the draft, as the model said it
    assert "[7]" not in extra["rag"]["answer"]  # the checked text is beside it

    deltas, extra = streamed(app_client, INVENTED, rag_stream="draft")
    assert "".join(deltas) == "".join(INVENTED) + "\n\n" + REFUSAL_TEXT
    assert extra["rag"]["refused"]


def test_an_unknown_stream_mode_is_refused(app_client: TestClient) -> None:
    response = app_client.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": QUESTION}], "rag_stream": "eventually"},
    )
    assert response.status_code == 422
    assert "rag_stream" in response.text
