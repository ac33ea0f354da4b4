"""API keys scope every route to their collections."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.helpers import make_settings, upload, wait_for_job


def test_api_keys_scope_collections(tmp_path: Path) -> None:
    from api.auth import create_key
    from rag.storage.knowledge_base import KnowledgeBase

    settings = make_settings(tmp_path / "auth-store")
    with TestClient(create_app(settings, load_llm=False)) as client:
        for collection, name, text in [
            ("red", "red.txt", b"Red team secret: the spare keys are under the workbench."),
            ("blue", "blue.txt", b"Blue team note: the spare tubes are in the blue box."),
        ]:
            wait_for_job(client, upload(client, [(name, text)], collection).json()["job_id"])
        kb = KnowledgeBase(settings)
        with kb.write_session.begin() as session:
            _, blue_key = create_key(session, collections=["blue"])
        kb.close()
        assert client.get("/v1/documents").status_code == 401
        assert (
            client.get("/v1/documents", headers={"Authorization": "Bearer wrong"}).status_code
            == 401
        )
        headers = {"Authorization": f"Bearer {blue_key}"}
        docs = client.get("/v1/documents", headers=headers).json()["items"]
        assert {d["collection"] for d in docs} == {"blue"}
        red_doc = client.get(
            "/v1/documents", headers={"X-API-Key": blue_key}, params={"collection": "red"}
        )
        assert red_doc.status_code == 404
        hits = client.post(
            "/v1/search", headers=headers, json={"query": "spare keys workbench", "k": 10}
        ).json()["hits"]
        assert hits and {h["collection"] for h in hits} == {"blue"}
        forced = client.post(
            "/v1/search",
            headers=headers,
            json={"query": "spare keys", "filters": {"collections": ["red"]}},
        ).json()["hits"]
        assert forced == []
        models = [m["id"] for m in client.get("/v1/models", headers=headers).json()["data"]]
        assert "red" not in models and "blue" in models
