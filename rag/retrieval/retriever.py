"""Hybrid retrieval: dense (FAISS) + lexical (BM25 over FTS5) fused (RRF, or a min-max
convex combination of their scores), filters applied inside both searches, optional
cross-encoder rerank and MMR diversification."""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from rag.embedding import Embedder
from rag.errors import InvalidInputError
from rag.retrieval.fusion import (
    convex_combination,
    maximal_marginal_relevance,
    reciprocal_rank_fusion,
)
from rag.retrieval.rerank import Reranker
from rag.settings import RetrievalSettings
from rag.storage import store
from rag.storage.filters import SearchFilter, WhereClause, allowed_chunk_ids, filter_clause
from rag.storage.knowledge_base import KnowledgeBase
from rag.storage.vector_cache import vectors_from_bytes


class SearchMode(enum.StrEnum):
    DENSE = "dense"
    LEXICAL = "lexical"
    HYBRID = "hybrid"


@dataclass(frozen=True, slots=True, kw_only=True)
class PassageLocation:
    """Where a passage is: its chunk, document, collection and place in the text."""

    chunk_id: int
    document_id: int
    collection: str
    source: str
    title: str
    section: str | None
    page: int | None
    char_start: int
    char_end: int


def location_of(passage: PassageLocation) -> dict[str, Any]:
    """The location fields of a hit (or citation), to build another shape from."""
    return {f.name: getattr(passage, f.name) for f in fields(PassageLocation)}


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchHit(PassageLocation):
    text: str
    ordinal: int  # the chunk's place in its document
    dense_score: float | None
    lexical_score: float | None
    fused_score: float
    rerank_score: float | None = None


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[SearchHit]
    retrieval_ms: float
    mode: SearchMode

    @property
    def best_dense_score(self) -> float | None:
        scores = [h.dense_score for h in self.hits if h.dense_score is not None]
        return max(scores) if scores else None


class Retriever:
    def __init__(
        self,
        kb: KnowledgeBase,
        embedder: Embedder,
        settings: RetrievalSettings,
        reranker: Reranker | None = None,
    ) -> None:
        self.kb = kb
        self.embedder = embedder
        self.settings = settings
        self.reranker = reranker

    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        mode: SearchMode | str | None = None,
        search_filter: SearchFilter | None = None,
        rerank: bool | None = None,
        mmr: bool = False,
    ) -> SearchResult:
        started = time.perf_counter()
        k = k if k is not None else self.settings.k
        if k < 1:
            raise InvalidInputError("k must be at least 1")
        try:
            mode = SearchMode(mode or self.settings.mode)
        except ValueError as exc:
            raise InvalidInputError(f"mode must be dense, lexical or hybrid, not '{mode}'") from exc
        if not query.strip():
            raise InvalidInputError("the query is empty")
        use_rerank = self.reranker is not None and (rerank if rerank is not None else True)
        pool = max(self.settings.candidates, k * (4 if use_rerank or mmr else 2))
        where = filter_clause(search_filter)
        query_vector = None if mode is SearchMode.LEXICAL else self.embedder.encode([query])[0]
        dense = self._dense(query_vector, pool, where) if query_vector is not None else {}
        lexical = self._lexical(query, pool, where) if mode is not SearchMode.DENSE else {}
        fused = self._fuse(mode, dense, lexical)[:pool]
        hits, embeddings = self._materialize(fused, dense, lexical, query_vector)
        if use_rerank and self.reranker is not None and hits:
            rerank_scores = self.reranker.score(query, [h.text for h in hits])
            order = sorted(range(len(hits)), key=lambda i: -rerank_scores[i])
            hits = [replace(hits[i], rerank_score=rerank_scores[i]) for i in order]
            embeddings = embeddings[order] if len(embeddings) else embeddings
        if mmr and query_vector is not None and len(hits) > 1:
            picked = maximal_marginal_relevance(
                query_vector, embeddings, k=k, diversity=self.settings.mmr_diversity
            )
            hits = [hits[i] for i in picked]
        elapsed = (time.perf_counter() - started) * 1000
        return SearchResult(hits=hits[:k], retrieval_ms=round(elapsed, 2), mode=mode)

    def _dense(
        self, query_vector: np.ndarray, pool: int, where: WhereClause | None
    ) -> dict[int, float]:
        """chunk id -> cosine, best first; the filter is applied inside FAISS."""
        self.kb.check_embedding_model(self.embedder)
        allowed = None
        if where is not None:
            with self.kb.read_session() as session:
                allowed = allowed_chunk_ids(session, where)
            if not allowed.size:
                return {}
        scores, ids = self.kb.vectors().search(query_vector[None, :], pool, allowed_ids=allowed)
        return {
            int(chunk_id): float(score)
            for score, chunk_id in zip(scores[0], ids[0], strict=True)
            if chunk_id >= 0
        }

    def _lexical(self, query: str, pool: int, where: WhereClause | None) -> dict[int, float]:
        """chunk id -> BM25 score, best first."""
        with self.kb.read_session() as session:
            hits = self.kb.lexical.search(session, query=query, k=pool, where=where)
            return {hit.chunk_id: hit.score for hit in hits}

    def _fuse(
        self, mode: SearchMode, dense: dict[int, float], lexical: dict[int, float]
    ) -> list[tuple[int, float]]:
        if mode is SearchMode.DENSE:
            return list(dense.items())
        if mode is SearchMode.LEXICAL:
            return list(lexical.items())
        weights = [self.settings.dense_weight, self.settings.lexical_weight]
        if self.settings.fusion == "convex":
            return convex_combination([dense, lexical], weights=weights)
        return reciprocal_rank_fusion(
            [list(dense), list(lexical)], weights=weights, k=self.settings.rrf_k
        )

    def _materialize(
        self,
        fused: list[tuple[int, float]],
        dense_scores: dict[int, float],
        lexical_scores: dict[int, float],
        query_vector: np.ndarray | None,
    ) -> tuple[list[SearchHit], np.ndarray]:
        if not fused:
            return [], np.empty((0, self.embedder.dim), dtype=np.float32)
        ids = [cid for cid, _ in fused]
        with self.kb.read_session() as session:
            by_id = store.chunks_with_documents(session, chunk_ids=ids)
        hits: list[SearchHit] = []
        blobs: list[bytes] = []
        seen_texts: set[str] = set()
        for chunk_id, fused_score in fused:
            row = by_id.get(chunk_id)
            if row is None:  # deleted between the index lookup and now
                continue
            chunk, source, title, collection = row
            if chunk.content_hash in seen_texts:
                continue  # the same passage stored twice is shown once
            seen_texts.add(chunk.content_hash)
            dense = dense_scores.get(chunk_id)
            if dense is None and query_vector is not None:
                # Lexical-only hits still get a cosine score, so a relevance threshold and
                # the grounding check can use one scale.
                dense = float(np.frombuffer(chunk.embedding, dtype=np.float32) @ query_vector)
            hits.append(
                SearchHit(
                    chunk_id=chunk_id,
                    document_id=chunk.document_id,
                    collection=collection,
                    source=source,
                    title=title,
                    section=chunk.section,
                    page=chunk.page,
                    char_start=chunk.char_start,
                    char_end=chunk.char_end,
                    text=chunk.text,
                    ordinal=chunk.ordinal,
                    dense_score=dense,
                    lexical_score=lexical_scores.get(chunk_id),
                    fused_score=float(fused_score),
                )
            )
            blobs.append(chunk.embedding)
        return hits, vectors_from_bytes(blobs, self.embedder.dim)


def best_per_document(hits: Sequence[SearchHit], k: int | None = None) -> list[SearchHit]:
    """Document-level results: each document scores as its best chunk (hits are ranked)."""
    seen: set[int] = set()
    documents: list[SearchHit] = []
    for hit in hits:
        if hit.document_id not in seen:
            seen.add(hit.document_id)
            documents.append(hit)
    return documents[:k] if k is not None else documents
