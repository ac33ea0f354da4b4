"""`/v1/reports/quality`: the quality report as JSON, or as a self-contained HTML page."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from api.deps import AdminPrincipal, ResourcesDep
from rag.errors import InvalidInputError
from rag.reporting import load_quality_report, report_html

router = APIRouter(tags=["reports"])


@router.get("/v1/reports/quality", responses={200: {"content": {"text/html": {}}}})
async def quality(
    resources: ResourcesDep,
    principal: AdminPrincipal,
    since: date | None = None,
    collection: str | None = None,
    format: Literal["json", "html"] = "json",
) -> Any:
    """Per collection and per day: answers, refusals by reason, feedback and its positive
    share, mean support score, unsupported-sentence rate, citations, latency p50/p95; the
    questions with negative feedback and the most often refused questions. A key scoped
    to some collections must name one of them."""
    if collection is not None:
        principal.require(collection)
    elif principal.collections is not None:
        raise InvalidInputError("this key sees only some collections: name one (?collection=)")
    report = await run_in_threadpool(
        load_quality_report, resources.kb, since=since, collection=collection
    )
    if format == "html":
        return HTMLResponse(await run_in_threadpool(report_html, report))
    return report
