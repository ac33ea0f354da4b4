"""OpenAI-compatible endpoints, answered with RAG. ``model`` names a collection (or
``default`` for every collection the caller may see). Citations travel in the extension
field ``citations`` of the body, and of the last SSE chunk before ``[DONE]``. A stream sends
the model's draft as it comes, or (``checked``) only the answer the checks let through."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from sse_starlette import ServerSentEvent

from api.auth import Principal, Role
from api.deps import AnsweringDep, AskPrincipal, PrincipalDep, ResourcesDep, SearchPrincipal
from api.errors import error_body
from api.schemas import ChatCompletionRequest, EmbeddingsRequest
from api.sse import event_stream, json_event
from rag.answering.answers import Answer, AskOptions, FinalEvent, TokenEvent
from rag.answering.llm import ChatMessage
from rag.errors import InvalidInputError
from rag.storage import store
from rag.storage.filters import SearchFilter

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

# `model` names a collection, or this name for every collection the caller may see.
ALL_COLLECTIONS = "default"


def _filter_for_model(model: str, principal: Principal) -> SearchFilter:
    if model == ALL_COLLECTIONS:
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
    """The answer's citations and the rest of its record, beside OpenAI's fields. The record
    keeps the checked answer text: a streaming client replaces the draft it assembled from
    the deltas with it, since a citation may have moved or a marker been dropped."""
    payload = asdict(answer)
    citations = payload.pop("citations")
    for key in ("question", "standalone_question"):
        payload.pop(key)
    return {"citations": citations, "rag": payload}


@router.post("/chat/completions")
async def chat_completions(
    body: ChatCompletionRequest,
    answering: AnsweringDep,
    resources: ResourcesDep,
    principal: AskPrincipal,
) -> Any:
    question, history = _conversation(body)
    options: AskOptions = {
        "search_filter": _filter_for_model(body.model, principal),
        "history": history,
        "max_tokens": body.max_completion_tokens or body.max_tokens,
        "temperature": body.temperature,
    }
    created = int(time.time())
    if not body.stream:
        answer = await answering.answer(
            question, endpoint="chat.completions", key_id=principal.key_id, **options
        )
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

    events = await answering.stream(
        question, endpoint="chat.completions-stream", key_id=principal.key_id, **options
    )
    chunk_id = f"chatcmpl-{created}-{id(body)}"

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> ServerSentEvent:
        return json_event(
            {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": body.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
        )

    checked = (body.rag_stream or resources.settings.api.openai_stream) == "checked"

    async def sse() -> AsyncIterator[ServerSentEvent]:
        yield chunk({"role": "assistant", "content": ""})
        drafted = False
        async for event in events:
            if isinstance(event, TokenEvent):
                if not checked:
                    drafted = drafted or bool(event.text.strip())
                    yield chunk({"content": event.text})
            elif isinstance(event, FinalEvent):
                if checked:
                    yield chunk({"content": event.answer.answer})
                elif event.answer.refused:
                    # Deltas only append: the draft stays on screen, the refusal below it.
                    below = "\n\n" if drafted else ""
                    yield chunk({"content": below + event.answer.answer})
                yield chunk({}, "stop", **_rag_extension(event.answer))
            else:
                yield json_event(error_body(type(event).__name__, str(event)))
        yield json_event("[DONE]")

    return event_stream(sse())


@router.get("/models")
def list_models(resources: ResourcesDep, principal: PrincipalDep) -> dict[str, Any]:
    """The collections the caller may see, plus `default` (all of them), each listed once
    (for keys that may search or ask)."""
    if not principal.has_role(Role.ASK):
        principal.require_role(Role.SEARCH)
    with resources.kb.read_session() as session:
        names = [c.name for c in store.list_collections(session) if principal.can_see(c.name)]
    created = int(time.time())
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": created, "owned_by": "rag-backend"}
            for name in dict.fromkeys([ALL_COLLECTIONS, *names])
        ],
    }


@router.post("/embeddings")
def embeddings(
    body: EmbeddingsRequest, resources: ResourcesDep, principal: SearchPrincipal
) -> dict[str, Any]:
    del principal
    texts = [body.input] if isinstance(body.input, str) else list(body.input)
    if not texts or len(texts) > 2048:
        raise InvalidInputError("input must hold between 1 and 2048 texts")
    embedder = resources.embedder
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
