"""The FastAPI application: ``create_app(settings)``. Heavy resources are built once in the
lifespan and handed to routes through ``api/deps.py``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import install_error_handlers
from api.metrics import Metrics
from api.resources import Resources
from api.routers import (
    answers,
    batches,
    collections,
    documents,
    health,
    openai_compat,
    passages,
    reports,
    search,
)
from api.routers import jobs as jobs_router
from api.services.answering import AnsweringService
from api.services.audit import RetentionTask
from api.services.gate import LLMGate
from api.services.jobs import JobRunner
from api.state import AppState
from rag.settings import Settings

PLAYGROUND = Path(__file__).resolve().parent / "static" / "playground"


class RequestMetricsMiddleware:
    """Per-route latency histogram. A plain ASGI middleware: the ``@app.middleware`` kind
    wraps every request in extra tasks and costs milliseconds we measure in the bench."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            state: AppState | None = getattr(scope["app"].state, "rag", None)
            route = scope.get("route")
            if state is not None:
                state.metrics.request_seconds.labels(
                    scope["method"], getattr(route, "path", "unmatched"), f"{status[0] // 100}xx"
                ).observe(time.perf_counter() - started)


def create_app(settings: Settings | None = None, *, load_llm: bool = True) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources = Resources(settings)
        metrics = Metrics()
        _ = resources.embedder, resources.retriever, resources.kb.vectors()
        if load_llm:
            _ = resources.llm
        gate = LLMGate(
            max_waiting=settings.api.llm_queue_size,
            retry_after=settings.api.retry_after_seconds,
            generators=settings.llm.generators,
        )
        answering = AnsweringService(
            settings=settings, resources=resources, gate=gate, metrics=metrics
        )

        def count_ingested(ok: int, failed: int) -> None:
            metrics.documents_ingested.labels("ingested").inc(ok)
            metrics.documents_ingested.labels("failed").inc(failed)

        jobs = JobRunner(resources, answering, on_ingested=count_ingested)
        app.state.rag = AppState(settings, resources, metrics, gate, answering, jobs)
        retention = RetentionTask(
            resources.kb,
            retention_days=settings.log.retention_days,
            interval_s=settings.log.purge_interval_s,
        )
        jobs.start()
        retention.start()
        try:
            yield
        finally:
            retention.stop()
            jobs.shutdown()
            answering.shutdown()
            resources.kb.save_vectors()
            resources.close()

    app = FastAPI(
        title="rag-backend",
        version="0.1.0",
        description="Local-first RAG: ingest documents, hybrid search, grounded cited answers.",
        lifespan=lifespan,
    )
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(RequestMetricsMiddleware)
    install_error_handlers(app)
    for router in (
        health.router,
        collections.router,
        documents.router,
        jobs_router.router,
        search.router,
        answers.router,
        batches.router,
        openai_compat.router,
        passages.router,
        reports.router,
    ):
        app.include_router(router)
    # The playground page: static files that only call the public API.
    app.mount("/playground", StaticFiles(directory=PLAYGROUND, html=True), name="playground")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/playground/")

    return app
