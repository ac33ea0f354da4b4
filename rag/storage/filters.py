"""Search filters, turned into one SQL WHERE clause used by both retrieval paths: the FTS
query joins it directly, and the dense path turns it into a FAISS ID selector."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, and_, false, select
from sqlalchemy.orm import Session

from rag.errors import InvalidInputError
from rag.storage.models import Chunk, Collection, Document

# A WHERE clause over Chunk joined with Document and Collection.
WhereClause = ColumnElement[bool]


@dataclass(frozen=True, slots=True)
class SearchFilter:
    collections: tuple[str, ...] = ()
    document_ids: tuple[int, ...] = ()
    source_prefix: str | None = None
    source_glob: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    # True when a scope left no collection at all: the filter then matches no chunk.
    matches_nothing: bool = False

    @property
    def is_empty(self) -> bool:
        return not (
            self.matches_nothing
            or self.collections
            or self.document_ids
            or self.source_prefix
            or self.source_glob
            or self.metadata
            or self.updated_after
            or self.updated_before
        )

    def restricted_to(self, collections: Sequence[str]) -> SearchFilter:
        """This filter further limited to ``collections`` (for scoped API keys)."""
        allowed = tuple(c for c in (self.collections or collections) if c in collections)
        return replace(self, collections=allowed, matches_nothing=not allowed)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def glob_to_like(pattern: str) -> str:
    """Shell glob (``*``, ``?``) to a SQL LIKE pattern with ``\\`` as escape."""
    out = []
    for char in pattern:
        if char == "*":
            out.append("%")
        elif char == "?":
            out.append("_")
        else:
            out.append(_escape_like(char))
    return "".join(out)


def filter_clause(search_filter: SearchFilter | None) -> ColumnElement[bool] | None:
    """WHERE clause over Chunk joined with Document and Collection; None when unfiltered."""
    if search_filter is None or search_filter.is_empty:
        return None
    if search_filter.matches_nothing:
        return false()
    conditions: list[ColumnElement[bool]] = []
    if search_filter.collections:
        conditions.append(Collection.name.in_(list(search_filter.collections)))
    if search_filter.document_ids:
        conditions.append(Document.id.in_(list(search_filter.document_ids)))
    if search_filter.source_prefix:
        conditions.append(
            Document.source.like(_escape_like(search_filter.source_prefix) + "%", escape="\\")
        )
    if search_filter.source_glob:
        conditions.append(
            Document.source.like(glob_to_like(search_filter.source_glob), escape="\\")
        )
    for key, value in search_filter.metadata.items():
        conditions.append(Document.metadata_[key].as_string() == value)
    if search_filter.updated_after:
        conditions.append(Document.updated_at >= search_filter.updated_after)
    if search_filter.updated_before:
        conditions.append(Document.updated_at <= search_filter.updated_before)
    return and_(*conditions)


def allowed_chunk_ids(session: Session, where: ColumnElement[bool]) -> npt.NDArray[np.int64]:
    stmt = (
        select(Chunk.id)
        .join(Document, Document.id == Chunk.document_id)
        .join(Collection, Collection.id == Document.collection_id)
        .where(where)
    )
    return np.fromiter(session.scalars(stmt), dtype=np.int64)


def parse_filter_args(pairs: Sequence[str]) -> SearchFilter:
    """CLI ``--filter KEY=VALUE`` pairs. Keys: collection, document_id, source_prefix,
    source_glob, updated_after, updated_before, and ``meta.NAME`` for metadata."""
    collections: list[str] = []
    document_ids: list[int] = []
    metadata: dict[str, str] = {}
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"filter '{pair}' is not KEY=VALUE")
        if key == "collection":
            collections.append(value)
        elif key == "document_id":
            try:
                document_ids.append(int(value))
            except ValueError as exc:
                raise InvalidInputError(f"document_id must be an integer, got '{value}'") from exc
        elif key in {"source_prefix", "source_glob"}:
            options[key] = value
        elif key in {"updated_after", "updated_before"}:
            try:
                options[key] = datetime.fromisoformat(value)
            except ValueError as exc:
                raise InvalidInputError(f"{key} must be an ISO date, got '{value}'") from exc
        elif key.startswith("meta."):
            metadata[key.removeprefix("meta.")] = value
        else:
            raise InvalidInputError(
                f"unknown filter key '{key}' (use collection, document_id, source_prefix, "
                "source_glob, updated_after, updated_before or meta.NAME)"
            )
    return SearchFilter(
        collections=tuple(collections),
        document_ids=tuple(document_ids),
        metadata=metadata,
        **options,
    )
