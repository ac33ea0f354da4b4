from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import State
from rag.storage.doctor import diagnose

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: State) -> JSONResponse:
    """Models loaded and the FAISS/FTS indexes consistent with the database."""

    def check() -> dict[str, Any]:
        diagnosis = diagnose(state.resources.kb, configured_model=state.resources.embedder.name)
        return {
            "embedder_loaded": state.resources.embedder_model.loaded,
            "llm_loaded": state.resources.llm_model.loaded,
            "chunks": diagnosis.chunks,
            "faiss_consistent": not (diagnosis.missing_from_faiss or diagnosis.extra_in_faiss),
            "fts_consistent": not (diagnosis.missing_from_fts or diagnosis.extra_in_fts),
            "store_consistent": diagnosis.consistent,
        }

    report = await run_in_threadpool(check)
    ready = report["embedder_loaded"] and report["store_consistent"]
    report["status"] = "ready" if ready else "not ready"
    return JSONResponse(report, status_code=200 if ready else 503)


@router.get("/metrics")
def metrics(state: State) -> Response:
    state.metrics.queue_depth.set(state.gate.depth)
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
