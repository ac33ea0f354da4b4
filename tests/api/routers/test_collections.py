"""Collections: create, list, delete."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_collections_create_list_delete(client: TestClient) -> None:
    assert client.post("/v1/collections", json={"name": "fresh"}).status_code == 201
    assert client.post("/v1/collections", json={"name": "fresh"}).status_code == 409
    assert client.post("/v1/collections", json={"name": "../bad"}).status_code == 422
    names = {c["name"] for c in client.get("/v1/collections").json()}
    assert {"fresh", "default"} <= names
    assert client.delete("/v1/collections/fresh").status_code == 204
    assert client.delete("/v1/collections/fresh").status_code == 404
