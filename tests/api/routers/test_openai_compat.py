"""The OpenAI-compatible endpoints through the official client."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.helpers import QUESTION


def test_openai_client_gets_answers_with_citations(client: TestClient) -> None:
    import openai

    oa = openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client)
    models = [m.id for m in oa.models.list().data]
    assert "default" in models
    completion = oa.chat.completions.create(
        model="default", messages=[{"role": "user", "content": QUESTION}], max_tokens=40
    )
    assert completion.choices[0].message.content
    extra = completion.model_extra or {}
    assert any(c["source"].endswith("handbook.md") for c in extra["citations"])
    assert extra["rag"]["answer"] == completion.choices[0].message.content
    stream = oa.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=40,
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    extra = last.model_extra or {}
    assert any(c["source"].endswith("handbook.md") for c in extra["citations"])
    # The checked answer, which a client shows in place of the draft it streamed.
    assert extra["rag"]["answer"].strip()
    embedding = oa.embeddings.create(model="default", input=["brake pads", "tyre"])
    assert len(embedding.data) == 2 and len(embedding.data[0].embedding) == 384
