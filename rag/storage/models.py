"""Typed SQLAlchemy 2.0 models: the database is the source of truth.

Nothing here is dialect-specific: each dialect's full-text index is created by the migrations
(``rag/storage/migrations``) and queried in ``rag/storage/lexical.py``.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored time, aware: SQLite hands back naive datetimes (stored as UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Collection(Base):
    __tablename__ = "collections"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    documents: Mapped[list[Document]] = relationship(back_populates="collection")


class DocumentStatus(enum.StrEnum):
    READY = "ready"


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("collection_id", "source", name="uq_document_source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )
    # Identity within the collection: a resolved file path, an upload name or a BEIR _id.
    source: Mapped[str] = mapped_column(String(2048))
    # The file the document was read from; `--prune` uses it to find vanished sources.
    origin: Mapped[str] = mapped_column(String(2048), index=True)
    title: Mapped[str] = mapped_column(String(1024), default="")
    mime_type: Mapped[str] = mapped_column(String(128))
    size_bytes: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    # Hash of the chunking/embedding configuration: a change forces re-chunking.
    pipeline_signature: Mapped[str] = mapped_column(String(64))
    status: Mapped[DocumentStatus] = mapped_column(
        Enum(DocumentStatus, native_enum=False, length=16), default=DocumentStatus.READY
    )
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    collection: Mapped[Collection] = relationship(back_populates="documents")
    chunks: Mapped[list[Chunk]] = relationship(
        back_populates="document", order_by="Chunk.ordinal", passive_deletes=True
    )


class Chunk(Base):
    __tablename__ = "chunks"
    __table_args__ = (Index("ix_chunks_document_ordinal", "document_id", "ordinal"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer)
    char_start: Mapped[int] = mapped_column(Integer)
    char_end: Mapped[int] = mapped_column(Integer)
    page: Mapped[int | None] = mapped_column(Integer, nullable=True)
    section: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    embedding_model: Mapped[str] = mapped_column(String(256))

    document: Mapped[Document] = relationship(back_populates="chunks")


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class JobKind(enum.StrEnum):
    INGEST = "ingest"
    BATCH = "batch"


class Job(Base):
    """A background job (ingestion of uploads or server paths, or batch Q&A), resumable
    after a restart from ``params``."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[JobKind] = mapped_column(Enum(JobKind, native_enum=False, length=16))
    collection: Mapped[str] = mapped_column(String(200))
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, native_enum=False, length=16), default=JobStatus.PENDING
    )
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What is needed to resume the job after a restart (stored upload paths, options).
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The process that runs the job and when it last said so: a job whose owner stopped
    # renewing its lease is taken over by another process.
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class StoreState(Base):
    """Key/value facts about the store: the FAISS generation and the embedding model."""

    __tablename__ = "store_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(1024))


class ChunkChange(Base):
    """Which chunk ids a generation added or removed: an API process whose FAISS cache is
    at generation g applies the rows of the generations after g instead of rebuilding."""

    __tablename__ = "chunk_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, index=True)
    chunk_id: Mapped[int] = mapped_column(Integer)
    added: Mapped[bool] = mapped_column()


class ApiKey(Base):
    """An API key, stored as a SHA-256 hash; ``collections`` empty means all collections."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    collections: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # search, ask, ingest, admin (admin implies the others); None on keys older than roles.
    roles: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)


class AuditEntry(Base):
    """Who did what: every answer, upload, ingestion and delete, with the key id (never
    the key)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    collection: Mapped[str] = mapped_column(String(200), default="", server_default="")
    target: Mapped[str] = mapped_column(String(200), default="", server_default="")
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class EvalRun(Base):
    """One saved evaluation run (`rag eval ... --save`)."""

    __tablename__ = "eval_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(32))  # retrieval | qa
    collection: Mapped[str] = mapped_column(String(200), default="", server_default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    models: Mapped[dict[str, Any]] = mapped_column(JSON)
    commit: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AnswerCitation(Base):
    """A chunk a logged answer cites."""

    __tablename__ = "answer_citations"

    answer_id: Mapped[str] = mapped_column(
        ForeignKey("answer_log.id", ondelete="CASCADE"), primary_key=True
    )
    chunk_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)


class AnswerLog(Base):
    """Every answer given, for feedback and audit."""

    __tablename__ = "answer_log"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    standalone_question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    retrieved_chunk_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    cited_chunk_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    grounded: Mapped[bool] = mapped_column(default=False)
    refused: Mapped[bool] = mapped_column(default=False)
    latency_ms: Mapped[float] = mapped_column(default=0.0)
    endpoint: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    # The collection the question was asked of ("" when it searched every collection).
    collection: Mapped[str] = mapped_column(String(200), default="", server_default="")
    refusal_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    support_score: Mapped[float] = mapped_column(default=0.0, server_default="0")
    sentences: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    unsupported_sentences: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    time_to_first_token_ms: Mapped[float | None] = mapped_column(nullable=True)


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[str] = mapped_column(
        ForeignKey("answer_log.id", ondelete="CASCADE"), index=True
    )
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BatchItem(Base):
    """One question of a batch job and, once answered, its result."""

    __tablename__ = "batch_items"
    __table_args__ = (UniqueConstraint("job_id", "position", name="uq_batch_item_position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    question_id: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The answer's id in the answer log (a deleted document's text is removed from both).
    answer_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
