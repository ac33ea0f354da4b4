"""Batch Q&A jobs: create from JSON or a JSONL upload, download the results."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile, status
from fastapi.responses import StreamingResponse

from api.auth import Principal
from api.deps import AskPrincipal, JobsDep, ResourcesDep, State
from api.schemas import BatchRequest, JobAccepted, PathId
from api.services import audit
from api.services.jobs import JobRunner
from rag.answering.batch import QuestionRow, parse_question_lines, question_row
from rag.errors import FileTooLargeError, InvalidInputError, NotFoundError
from rag.storage import jobs as job_rows
from rag.storage.models import JobKind

router = APIRouter(prefix="/v1/batches", tags=["batches"])


def _submit(
    jobs: JobRunner,
    principal: Principal,
    rows: list[QuestionRow],
    collection: str | None,
    max_tokens: int | None,
) -> JobAccepted:
    if collection is not None:
        principal.require(collection)
    scope = [collection] if collection else list(principal.collections or [])
    job_id = jobs.submit_batch(
        rows, collection=collection, scope=scope, max_tokens=max_tokens, key_id=principal.key_id
    )
    audit.record(
        jobs.resources.kb, principal, "batch", collection=collection or "",
        target=f"job {job_id}", detail={"questions": len(rows)},
    )  # fmt: skip
    return JobAccepted(job_id=job_id, status="pending", total=len(rows))


@router.post("", response_model=JobAccepted, status_code=status.HTTP_202_ACCEPTED)
def create_batch(body: BatchRequest, jobs: JobsDep, principal: AskPrincipal) -> JobAccepted:
    """Answer many questions in the background; poll `/v1/jobs/{id}`, then download
    `/v1/batches/{id}/results`. A question without an id is named by its position."""
    rows = []
    for i, item in enumerate(body.questions):
        raw = item if isinstance(item, str) else item.model_dump()
        try:
            rows.append(question_row(raw, default_id=str(i)))
        except InvalidInputError as exc:  # e.g. a question of only whitespace: name the item
            raise InvalidInputError(f"questions[{i}]: {exc}") from exc
    return _submit(jobs, principal, rows, body.collection, body.max_tokens)


@router.post("/upload", response_model=JobAccepted, status_code=status.HTTP_202_ACCEPTED)
async def create_batch_upload(
    state: State,
    principal: AskPrincipal,
    file: Annotated[UploadFile, File(description="JSONL: {id, question} or a string per line.")],
    collection: Annotated[str | None, Form()] = None,
) -> JobAccepted:
    """A JSONL file of questions; a row without an id is named by its line number."""
    limit = state.settings.api.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise FileTooLargeError(file.filename or "upload", "larger than the upload limit")
    rows, errors = parse_question_lines(data.decode("utf-8", errors="replace").splitlines())
    if not rows:
        raise InvalidInputError("no valid question rows: " + "; ".join(map(str, errors[:5])))
    return _submit(state.jobs, principal, rows, collection, None)


@router.get(
    "/{job_id}/results",
    responses={200: {"content": {"application/x-ndjson": {}}}},
    response_class=StreamingResponse,
)
def batch_results(
    job_id: PathId, resources: ResourcesDep, principal: AskPrincipal
) -> StreamingResponse:
    """JSONL, one line per answered (or failed) question, in input order."""
    kb = resources.kb
    with kb.read_session() as session:
        job = job_rows.get_job(session, job_id=job_id)
        if job.kind is not JobKind.BATCH:
            raise NotFoundError(f"batch {job_id} does not exist")
        principal.require(job.collection, thing=f"batch {job_id}")

    def lines() -> Iterator[str]:
        with kb.read_session() as session:
            for output in job_rows.batch_outputs(session, job_id=job_id):
                yield json.dumps(output, default=str) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")
