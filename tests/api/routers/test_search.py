"""Search: validation and filters."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_search_validation_and_filters(client: TestClient) -> None:
    response = client.post("/v1/search", json={"query": "opening hours", "k": 3, "mode": "hybrid"})
    body = response.json()
    assert body["hits"][0]["source"].endswith("handbook.md")
    assert set(body["hits"][0]) >= {"dense_score", "lexical_score", "fused_score", "section"}
    assert client.post("/v1/search", json={"query": "x", "k": 1000}).status_code == 422
    assert client.post("/v1/search", json={"query": "x", "mode": "magic"}).status_code == 422
    assert (
        client.post("/v1/search", json={"query": ""}).json()["error"]["type"] == "ValidationError"
    )
    only_pdf = client.post(
        "/v1/search", json={"query": "money", "k": 5, "filters": {"source_glob": "*.pdf"}}
    ).json()["hits"]
    assert only_pdf and all(h["source"].endswith(".pdf") for h in only_pdf)
