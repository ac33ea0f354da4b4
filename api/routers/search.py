from __future__ import annotations

from fastapi import APIRouter

from api.deps import SearchPrincipal, State
from api.schemas import SearchRequest, SearchResponse
from rag.errors import InvalidInputError
from rag.retrieval.retriever import best_per_document

router = APIRouter(tags=["search"])


@router.post("/v1/search", response_model=SearchResponse)
def search(body: SearchRequest, state: State, principal: SearchPrincipal) -> SearchResponse:
    """Ranked passages (hybrid by default) with scores and metadata."""
    if body.k > state.settings.api.max_k:
        raise InvalidInputError(f"k must be at most {state.settings.api.max_k}")
    if len(body.query) > state.settings.api.max_question_chars:
        raise InvalidInputError(
            f"the query is longer than {state.settings.api.max_question_chars} characters"
        )
    search_filter = principal.scope(body.filters.to_search_filter())
    fetch = body.k * 5 if body.documents else body.k
    result = state.resources.retriever.search(
        body.query, k=fetch, mode=body.mode, search_filter=search_filter, mmr=body.mmr
    )
    hits = best_per_document(result.hits, body.k) if body.documents else result.hits
    state.metrics.retrieval_seconds.observe(result.retrieval_ms / 1000)
    return SearchResponse(
        query=body.query,
        mode=str(result.mode),
        retrieval_ms=result.retrieval_ms,
        hits=hits,
    )
