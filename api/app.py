"""The FastAPI application: ``create_app(settings)``. Heavy resources are built once in the
lifespan and handed to routes through ``api/deps.py``."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import install_error_handlers
from api.jobs import JobRunner
from api.llm_gate import LLMGate
from api.metrics import Metrics
from api.resources import Resources
from rag.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class AppState:
    settings: Settings
    resources: Resources
    metrics: Metrics
    gate: LLMGate
    jobs: JobRunner
    llm_executor: ThreadPoolExecutor


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
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

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
        )

        def count_ingested(ok: int, failed: int) -> None:
            metrics.documents_ingested.labels("ingested").inc(ok)
            metrics.documents_ingested.labels("failed").inc(failed)

        jobs = JobRunner(resources, on_ingested=count_ingested)
        # Waiting generations block on the LLM's lock in these threads, never in the
        # threadpool that serves search and uploads.
        llm_executor = ThreadPoolExecutor(max_workers=gate.capacity, thread_name_prefix="rag-llm")
        app.state.rag = AppState(settings, resources, metrics, gate, jobs, llm_executor)
        jobs.resume_interrupted()
        try:
            yield
        finally:
            jobs.shutdown()
            llm_executor.shutdown(wait=False, cancel_futures=True)
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
    from api.routers import answers, collections, documents, health, openai_compat, search

    for router in (
        health.router,
        collections.router,
        documents.router,
        search.router,
        answers.router,
        openai_compat.router,
    ):
        app.include_router(router)
    return app
