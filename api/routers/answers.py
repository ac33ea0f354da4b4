from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from api.answers import answer_payload, log_answer
from api.app import AppState
from api.auth import Principal
from api.deps import PrincipalDep, State
from api.schemas import (
    AskRequest,
    AskResponse,
    BatchQuestion,
    BatchRequest,
    FeedbackOut,
    FeedbackRequest,
    JobAccepted,
    PathId,
)
from api.streaming import relay_events, sse
from rag import store
from rag.errors import InvalidInputError, NotFoundError
from rag.filters import SearchFilter
from rag.generator import ChatMessage
from rag.models import AnswerLog, BatchItem, Feedback, IngestionJob
from rag.pipeline import Answer, FinalEvent, TokenEvent

router = APIRouter(tags=["answers"])


def check_question(state: AppState, question: str) -> None:
    limit = state.settings.api.max_question_chars
    if len(question) > limit:
        raise InvalidInputError(f"the question is longer than {limit} characters")
    if not question.strip():
        raise InvalidInputError("the question is empty")


def record(state: AppState, answer: Answer, endpoint: str) -> None:
    log_answer(state.resources.kb, answer, endpoint=endpoint)
    state.metrics.observe_answer(answer.timings, refused=answer.refused)


def answer_blocking(
    state: AppState,
    *,
    question: str,
    search_filter: SearchFilter,
    history: list[ChatMessage],
    k: int | None,
    max_tokens: int | None,
    temperature: float | None,
    endpoint: str,
) -> Answer:
    """Runs in the LLM executor; the caller holds a gate admission, released here."""
    try:
        answer = state.resources.pipeline.ask(
            question, search_filter=search_filter, history=history, k=k,
            max_tokens=max_tokens, temperature=temperature,
        )  # fmt: skip
    finally:
        state.gate.release()
    record(state, answer, endpoint)
    return answer


async def answer_now(state: AppState, **kwargs: Any) -> Answer:
    """Admit (or 429), then answer in the LLM executor without blocking the event loop."""
    state.gate.admit()
    loop = asyncio.get_running_loop()
    try:
        future = loop.run_in_executor(state.llm_executor, lambda: answer_blocking(state, **kwargs))
    except RuntimeError:
        state.gate.release()
        raise
    return await future


def stream_answer_events(
    state: AppState,
    *,
    question: str,
    search_filter: SearchFilter,
    history: list[ChatMessage],
    k: int | None,
    max_tokens: int | None,
    temperature: float | None,
) -> Callable[[Callable[[], bool]], Iterator[Any]]:
    def produce(should_stop: Callable[[], bool]) -> Iterator[Any]:
        yield from state.resources.pipeline.stream(
            question, search_filter=search_filter, history=history, k=k,
            max_tokens=max_tokens, temperature=temperature, should_stop=should_stop,
        )  # fmt: skip

    return produce


@router.post(
    "/v1/ask",
    response_model=AskResponse,
    responses={200: {"content": {"text/event-stream": {}}}, 429: {"description": "LLM busy"}},
)
async def ask(body: AskRequest, state: State, principal: PrincipalDep) -> Any:
    """A grounded, cited answer. With `stream: true`: SSE `token` events, then `citations`,
    then `done`."""
    check_question(state, body.question)
    search_filter = principal.scope(body.filters.to_search_filter())
    history = [ChatMessage(t.role, t.content) for t in body.history]
    # Retrieval errors (bad filters) should surface as 4xx before any streaming starts.
    if not body.stream:
        answer = await answer_now(
            state, question=body.question, search_filter=search_filter, history=history,
            k=body.k, max_tokens=body.max_tokens, temperature=None, endpoint="ask",
        )  # fmt: skip
        return answer_payload(answer)

    state.gate.admit()
    produce = stream_answer_events(
        state, question=body.question, search_filter=search_filter, history=history,
        k=body.k, max_tokens=body.max_tokens, temperature=None,
    )  # fmt: skip

    async def events() -> AsyncIterator[str]:
        async for event in relay_events(state, produce):
            if isinstance(event, TokenEvent):
                yield sse("token", {"text": event.text})
            elif isinstance(event, FinalEvent):
                payload = answer_payload(event.answer)
                await run_in_threadpool(record, state, event.answer, "ask-stream")
                yield sse("citations", {"citations": payload["citations"]})
                done = {k: v for k, v in payload.items() if k != "citations"}
                yield sse("done", done)
            elif isinstance(event, Exception):
                yield sse("error", {"error": {"type": type(event).__name__, "message": str(event)}})

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


@router.post("/v1/feedback", response_model=FeedbackOut, status_code=status.HTTP_201_CREATED)
def feedback(body: FeedbackRequest, state: State, principal: PrincipalDep) -> FeedbackOut:
    del principal  # any caller that could see the answer may rate it
    with state.resources.kb.write_session.begin() as session:
        if session.get(AnswerLog, body.answer_id) is None:
            raise NotFoundError(f"answer '{body.answer_id}' does not exist")
        row = Feedback(answer_id=body.answer_id, rating=body.rating, comment=body.comment)
        session.add(row)
        session.flush()
        return FeedbackOut(id=row.id, answer_id=row.answer_id)


# --- batches -----------------------------------------------------------------------------------


def parse_batch_jsonl(data: bytes) -> tuple[list[BatchQuestion], list[str]]:
    questions: list[BatchQuestion] = []
    errors: list[str] = []
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            item = (
                BatchQuestion(question=raw)
                if isinstance(raw, str)
                else BatchQuestion.model_validate(raw)
            )
            questions.append(item)
        except Exception as exc:
            errors.append(f"line {number}: {type(exc).__name__}")
    return questions, errors


def create_batch(
    state: AppState,
    principal: Principal,
    questions: list[BatchQuestion | str],
    collection: str | None,
    max_tokens: int | None,
) -> JobAccepted:
    if collection is not None:
        principal.require(collection)
    scope = [collection] if collection else list(principal.collections or [])
    with state.resources.kb.write_session.begin() as session:
        job = store.create_job(
            session, kind="batch", collection=collection or "", total=len(questions)
        )
        job.params = {"collections": scope, "max_tokens": max_tokens}
        for position, item in enumerate(questions):
            question = item if isinstance(item, BatchQuestion) else BatchQuestion(question=item)
            session.add(
                BatchItem(
                    job_id=job.id,
                    position=position,
                    question_id=question.id or str(position),
                    question=question.question,
                )
            )
        job_id = job.id
    state.jobs.submit(job_id)
    return JobAccepted(job_id=job_id, status="pending", total=len(questions))


@router.post("/v1/batches", response_model=JobAccepted, status_code=status.HTTP_202_ACCEPTED)
def create_batch_json(body: BatchRequest, state: State, principal: PrincipalDep) -> JobAccepted:
    """Answer many questions in the background; poll `/v1/jobs/{id}`, then download
    `/v1/batches/{id}/results`."""
    return create_batch(state, principal, body.questions, body.collection, body.max_tokens)


@router.post("/v1/batches/upload", response_model=JobAccepted, status_code=status.HTTP_202_ACCEPTED)
async def create_batch_upload(
    state: State,
    principal: PrincipalDep,
    file: Annotated[UploadFile, File(description="JSONL: {id, question} or a string per line.")],
    collection: Annotated[str | None, Form()] = None,
) -> JobAccepted:
    data = await file.read(state.settings.api.max_upload_bytes + 1)
    if len(data) > state.settings.api.max_upload_bytes:
        from rag.errors import FileTooLargeError

        raise FileTooLargeError(file.filename or "upload", "larger than the upload limit")
    questions, errors = parse_batch_jsonl(data)
    if not questions:
        raise InvalidInputError("no valid question rows: " + "; ".join(errors[:5]))
    return create_batch(state, principal, list(questions), collection, None)


def _visible_batch(state: AppState, principal: Principal, job_id: int) -> None:
    with state.resources.kb.read_session() as session:
        job = session.get(IngestionJob, job_id)
        visible = (
            job is not None
            and job.kind == "batch"
            and (principal.collections is None or job.collection in principal.collections)
        )
    if not visible:
        raise NotFoundError(f"batch {job_id} does not exist")


@router.get(
    "/v1/batches/{job_id}/results",
    responses={200: {"content": {"application/x-ndjson": {}}}},
    response_class=StreamingResponse,
)
def batch_results(job_id: PathId, state: State, principal: PrincipalDep) -> StreamingResponse:
    """JSONL, one line per answered (or failed) question, in input order."""
    _visible_batch(state, principal, job_id)

    def lines() -> Iterator[str]:
        with state.resources.kb.read_session() as session:
            rows = session.scalars(
                select(BatchItem).where(BatchItem.job_id == job_id).order_by(BatchItem.position)
            )
            for row in rows:
                if row.result is not None:
                    yield json.dumps(row.result, default=str) + "\n"
                elif row.error is not None:
                    yield json.dumps({"id": row.question_id, "error": row.error}) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")
