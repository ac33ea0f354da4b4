"""OpenAI-compatible endpoints, answered with RAG. ``model`` names a collection (or
``default`` for every collection the caller may see). Citations travel in the extension
field ``citations`` of the body, and of the last SSE chunk before ``[DONE]``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from api.answers import answer_payload
from api.deps import PrincipalDep, State
from api.routers.answers import answer_now, check_question, record, stream_answer_events
from api.schemas import ChatCompletionRequest, EmbeddingsRequest
from api.streaming import relay_events, sse
from rag import store
from rag.errors import InvalidInputError
from rag.filters import SearchFilter
from rag.generator import ChatMessage
from rag.pipeline import Answer, FinalEvent, TokenEvent

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

DEFAULT_MODEL = "default"


def _filter_for_model(model: str, principal: Any) -> SearchFilter:
    if model == DEFAULT_MODEL:
        return principal.scope(SearchFilter())
    principal.require(model)
    return SearchFilter(collections=(model,))


def _conversation(body: ChatCompletionRequest) -> tuple[str, list[ChatMessage]]:
    turns = [m for m in body.messages if m.role in {"user", "assistant"}]
    if not turns or turns[-1].role != "user":
        raise InvalidInputError("the last message must come from the user")
    history = [ChatMessage(m.role, m.text()) for m in turns[:-1]]
    return turns[-1].text(), history


def _rag_extension(answer: Answer) -> dict[str, Any]:
    payload = answer_payload(answer)
    return {
        "citations": payload["citations"],
        "rag": {
            "answer_id": answer.answer_id,
            "grounded": answer.grounded,
            "refused": answer.refused,
            "support_score": answer.support_score,
            "unsupported_sentences": answer.unsupported_sentences,
            "timings": answer.timings,
        },
    }


@router.post("/chat/completions")
async def chat_completions(
    body: ChatCompletionRequest, state: State, principal: PrincipalDep
) -> Any:
    question, history = _conversation(body)
    check_question(state, question)
    search_filter = _filter_for_model(body.model, principal)
    max_tokens = body.max_completion_tokens or body.max_tokens
    created = int(time.time())
    if not body.stream:
        answer = await answer_now(
            state, question=question, search_filter=search_filter, history=history, k=None,
            max_tokens=max_tokens, temperature=body.temperature, endpoint="chat.completions",
        )  # fmt: skip
        prompt = int(answer.timings.get("prompt_tokens", 0))
        completion = int(answer.timings.get("completion_tokens", 0))
        return {
            "id": f"chatcmpl-{answer.answer_id}",
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.answer},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
            **_rag_extension(answer),
        }

    state.gate.admit()
    produce = stream_answer_events(
        state, question=question, search_filter=search_filter, history=history, k=None,
        max_tokens=max_tokens, temperature=body.temperature,
    )  # fmt: skip
    chunk_id = f"chatcmpl-{created}-{id(body)}"

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        return {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }

    async def events() -> AsyncIterator[str]:
        yield sse(None, chunk({"role": "assistant", "content": ""}))
        async for event in relay_events(state, produce):
            if isinstance(event, TokenEvent):
                yield sse(None, chunk({"content": event.text}))
            elif isinstance(event, FinalEvent):
                answer = event.answer
                await run_in_threadpool(record, state, answer, "chat.completions-stream")
                if answer.refused:
                    yield sse(None, chunk({"content": answer.answer}))
                yield sse(None, chunk({}, "stop", **_rag_extension(answer)))
            elif isinstance(event, Exception):
                yield sse(None, {"error": {"type": type(event).__name__, "message": str(event)}})
        yield sse(None, "[DONE]")

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


@router.get("/models")
def list_models(state: State, principal: PrincipalDep) -> dict[str, Any]:
    with state.resources.kb.read_session() as session:
        names = [c.name for c in store.list_collections(session) if principal.can_see(c.name)]
    created = int(time.time())
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": created, "owned_by": "rag-backend"}
            for name in [DEFAULT_MODEL, *names]
        ],
    }


@router.post("/embeddings")
def embeddings(body: EmbeddingsRequest, state: State, principal: PrincipalDep) -> dict[str, Any]:
    del principal
    texts = [body.input] if isinstance(body.input, str) else list(body.input)
    if not texts or len(texts) > 2048:
        raise InvalidInputError("input must hold between 1 and 2048 texts")
    embedder = state.resources.embedder
    vectors = embedder.encode(texts)
    tokens = sum(embedder.count_tokens(t) for t in texts)
    return {
        "object": "list",
        "model": embedder.name,
        "data": [
            {"object": "embedding", "index": i, "embedding": v.tolist()}
            for i, v in enumerate(vectors)
        ],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
