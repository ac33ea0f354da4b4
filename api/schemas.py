"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, Field

from rag.retrieval.retriever import SearchHit
from rag.settings import StreamMode
from rag.storage.filters import SearchFilter
from rag.storage.models import Document

# Database ids are 64-bit; larger numbers are a 422, not a driver overflow.
MAX_ID = 2**63 - 1
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


class ErrorBody(BaseModel):
    type: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class CollectionCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class CollectionOut(BaseModel):
    name: str
    documents: int
    chunks: int
    created_at: datetime | None = None


class DocumentOut(BaseModel):
    id: int
    collection: str
    source: str
    title: str
    mime_type: str
    size_bytes: int
    content_hash: str
    status: str
    metadata: dict[str, Any]
    chunks: int | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, document: Document, *, chunks: int | None = None) -> DocumentOut:
        return cls(
            id=document.id,
            collection=document.collection.name,
            source=document.source,
            title=document.title,
            mime_type=document.mime_type,
            size_bytes=document.size_bytes,
            content_hash=document.content_hash,
            status=str(document.status),
            metadata=document.metadata_,
            chunks=chunks,
            created_at=document.created_at,
            updated_at=document.updated_at,
        )


class DocumentPage(BaseModel):
    items: list[DocumentOut]
    total: int
    offset: int
    limit: int


class IngestPathRequest(BaseModel):
    path: str = Field(min_length=1, description="A file or folder under a configured root.")
    collection: str | None = None
    prune: bool = False


class JobAccepted(BaseModel):
    job_id: int
    status: str
    total: int


class JobOut(BaseModel):
    id: int
    kind: str
    collection: str
    status: str
    total: int
    done: int
    failed: int
    errors: list[dict[str, Any]]
    summary: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class Filters(BaseModel):
    collections: list[str] = Field(default_factory=list)
    document_ids: list[RowId] = Field(default_factory=list)
    source_prefix: str | None = None
    source_glob: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    updated_after: datetime | None = None
    updated_before: datetime | None = None

    def to_search_filter(self) -> SearchFilter:
        return SearchFilter(
            collections=tuple(self.collections),
            document_ids=tuple(self.document_ids),
            source_prefix=self.source_prefix,
            source_glob=self.source_glob,
            metadata=dict(self.metadata),
            updated_after=self.updated_after,
            updated_before=self.updated_before,
        )


class SearchRequest(BaseModel):
    query: str = Field(min_length=1)
    k: int = Field(default=5, ge=1)
    mode: Literal["dense", "lexical", "hybrid"] = "hybrid"
    filters: Filters = Field(default_factory=Filters)
    documents: bool = Field(default=False, description="One hit per document (its best chunk).")
    mmr: bool = False


class SearchResponse(BaseModel):
    query: str
    mode: str
    retrieval_ms: float
    hits: list[SearchHit]


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class AskRequest(BaseModel):
    question: str = Field(min_length=1)
    filters: Filters = Field(default_factory=Filters)
    history: list[Turn] = Field(default_factory=list)
    k: int | None = Field(
        default=None,
        ge=1,
        le=50,
        description="Passages packed into the model's prompt (default: answer.prompt_sources).",
    )
    max_tokens: int | None = Field(default=None, ge=1, le=2048)
    stream: bool = False


class FeedbackRequest(BaseModel):
    answer_id: str = Field(min_length=1)
    rating: int = Field(ge=-1, le=5, description="-1/1 thumbs or a 1-5 score.")
    comment: str = Field(default="", max_length=4000)


class FeedbackOut(BaseModel):
    id: int
    answer_id: str


class BatchQuestion(BaseModel):
    id: str | None = None
    question: str = Field(min_length=1)


class BatchRequest(BaseModel):
    questions: list[BatchQuestion | Annotated[str, Field(min_length=1)]] = Field(
        min_length=1, max_length=100_000
    )
    collection: str | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=2048)


# --- OpenAI-compatible -----------------------------------------------------------------------


class OpenAIMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if isinstance(self.content, list):
            return " ".join(str(p.get("text", "")) for p in self.content if isinstance(p, dict))
        return ""


class ChatCompletionRequest(BaseModel):
    model: str = "default"
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1, le=2048)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=2048)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    # Extension: `draft` or `checked` streaming for this request (RAG_API__OPENAI_STREAM
    # otherwise); OpenAI clients send it through their extra-body option.
    rag_stream: StreamMode | None = None


class EmbeddingsRequest(BaseModel):
    input: str | list[str]
    model: str = "default"


class PassageOut(BaseModel):
    """A cited passage in its place: the chunk, its document, and the text just before and
    after it (the neighbouring chunks) for context."""

    chunk_id: int
    document_id: int
    collection: str
    title: str
    source: str
    section: str | None
    page: int | None
    char_start: int
    char_end: int
    text: str
    before: str
    after: str
