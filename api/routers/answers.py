"""`/v1/ask` (JSON or SSE) and `/v1/feedback`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, status
from sse_starlette import ServerSentEvent

from api.deps import AnsweringDep, AskPrincipal, State
from api.errors import error_body
from api.schemas import AskRequest, FeedbackOut, FeedbackRequest
from api.sse import event_stream, json_event
from rag.answering.answers import Answer, AskOptions, FinalEvent, TokenEvent
from rag.answering.llm import ChatMessage
from rag.storage import answer_log

router = APIRouter(tags=["answers"])


@router.post(
    "/v1/ask",
    response_model=Answer,
    responses={200: {"content": {"text/event-stream": {}}}, 429: {"description": "LLM busy"}},
)
async def ask(body: AskRequest, answering: AnsweringDep, principal: AskPrincipal) -> Any:
    """A grounded, cited answer. With `stream: true`: SSE `token` events, then `citations`,
    then `done`."""
    options: AskOptions = {
        "search_filter": principal.scope(body.filters.to_search_filter()),
        "history": [ChatMessage(t.role, t.content) for t in body.history],
        "k": body.k,
        "max_tokens": body.max_tokens,
    }
    if not body.stream:
        return asdict(
            await answering.answer(
                body.question, endpoint="ask", key_id=principal.key_id, **options
            )
        )
    events = await answering.stream(
        body.question, endpoint="ask-stream", key_id=principal.key_id, **options
    )

    async def sse() -> AsyncIterator[ServerSentEvent]:
        async for event in events:
            if isinstance(event, TokenEvent):
                yield json_event({"text": event.text}, "token")
            elif isinstance(event, FinalEvent):
                payload = asdict(event.answer)
                yield json_event({"citations": payload.pop("citations")}, "citations")
                yield json_event(payload, "done")
            else:
                yield json_event(error_body(type(event).__name__, str(event)), "error")

    return event_stream(sse())


@router.post("/v1/feedback", response_model=FeedbackOut, status_code=status.HTTP_201_CREATED)
def feedback(body: FeedbackRequest, state: State, principal: AskPrincipal) -> FeedbackOut:
    del principal  # any caller that could see the answer may rate it
    with state.resources.kb.write_session.begin() as session:
        row = answer_log.add_feedback(
            session, answer_id=body.answer_id, rating=body.rating, comment=body.comment
        )
        collection = answer_log.collection_of(session, answer_id=body.answer_id)
        created = FeedbackOut(id=row.id, answer_id=row.answer_id)
    state.metrics.observe_feedback(body.rating, collection=collection)
    return created
