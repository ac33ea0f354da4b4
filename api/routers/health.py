from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import State
from rag.answering.llm_servers import LLMPool

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: State) -> JSONResponse:
    """Models loaded, and the FAISS cache and full-text index holding as many rows as the
    database at one generation (counts only: cheap at millions of chunks; ``rag doctor``
    compares the id sets)."""

    def check() -> dict[str, Any]:
        status = state.resources.kb.sync_status()
        stored = status.embedding_model
        report: dict[str, Any] = {}
        llm = state.resources.llm if state.resources.llm_model.loaded else None
        if isinstance(llm, LLMPool):
            report["llm_servers"] = [asdict(member) for member in llm.status()]
        return report | {
            "embedder_loaded": state.resources.embedder_model.loaded,
            "llm_loaded": state.resources.llm_model.loaded,
            "generation": status.generation,
            "chunks": status.chunks,
            "faiss_vectors": status.faiss_vectors,
            "faiss_consistent": status.faiss_vectors == status.chunks,
            "fts_consistent": status.fts_rows in (None, status.chunks),
            "embedding_model_matches": stored in (None, state.resources.embedder.name),
        }

    report = await run_in_threadpool(check)
    ready = (
        report["embedder_loaded"]
        and report["faiss_consistent"]
        and report["fts_consistent"]
        and report["embedding_model_matches"]
    )
    if "llm_servers" in report:  # a pool answers while any one of its members does
        ready = ready and any(member["up"] for member in report["llm_servers"])
    report["status"] = "ready" if ready else "not ready"
    return JSONResponse(report, status_code=200 if ready else 503)


@router.get("/metrics")
def metrics(state: State) -> Response:
    state.metrics.queue_depth.set(state.gate.depth)
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
