"""Health, readiness, metrics and CORS."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.helpers import make_settings
from tests.conftest import REPO_ROOT


def test_health_ready_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["faiss_consistent"] and body["fts_consistent"] and body["chunks"] > 0
    client.post("/v1/search", json={"query": "brakes"})
    metrics = client.get("/metrics").text
    assert 'rag_http_request_seconds_count{method="POST",route="/v1/search"' in metrics
    assert "rag_llm_queue_depth" in metrics


def test_readyz_is_503_when_faiss_lost_a_vector(client: TestClient) -> None:
    kb = client.app.state.rag.resources.kb  # type: ignore[attr-defined]
    lost = int(kb.vectors().ids()[0])
    kb.vectors().remove([lost])
    try:
        body = client.get("/readyz")
        assert body.status_code == 503
        assert not body.json()["faiss_consistent"] and body.json()["status"] == "not ready"
    finally:
        kb.rebuild_vectors()
    assert client.get("/readyz").status_code == 200


def test_cors_origins_are_configurable(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "cors", cors_origins=["http://chat.local"])
    with TestClient(create_app(settings, load_llm=False)) as client:
        preflight = client.options(
            "/v1/search",
            headers={"Origin": "http://chat.local", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.headers["access-control-allow-origin"] == "http://chat.local"
        other = client.get("/healthz", headers={"Origin": "http://evil.local"})
        assert "access-control-allow-origin" not in other.headers


def test_the_grafana_dashboard_reads_only_metrics_the_api_exports(
    client: TestClient,
) -> None:
    """Every series the dashboard queries exists in /metrics once an answer was given and
    rated (a renamed metric would leave a panel silently empty)."""
    answer = client.post("/v1/ask", json={"question": "What is the capital of Mongolia?"}).json()
    client.post("/v1/feedback", json={"answer_id": answer["answer_id"], "rating": 1})
    answered = client.post("/v1/ask", json={"question": "When is the workshop open on Saturday?"})
    assert not answered.json()["refused"]  # generated: tokens/s and support observed
    exported = client.get("/metrics").text
    dashboard = json.loads((REPO_ROOT / "deploy" / "grafana" / "rag-backend.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\brag_[a-z_]+", target["expr"])
    }
    assert len(queried) >= 7
    for name in queried:
        assert re.search(rf"^{name}[{{ ]", exported, re.MULTILINE), name
    assert 'rag_refusals_total{collection="all",reason="no_relevant_sources"}' in exported
    assert 'rag_feedback_total{collection="all",polarity="positive"}' in exported
