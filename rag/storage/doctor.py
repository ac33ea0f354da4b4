"""Consistency checks between the database, the FTS index and the FAISS cache, and repairs.

Used by ``rag doctor [--repair]`` and by ``GET /readyz``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, func, select

from rag.embedding import Embedder
from rag.storage import store
from rag.storage.knowledge_base import KnowledgeBase
from rag.storage.models import Chunk, Document


@dataclass(slots=True)
class DoctorReport:
    chunks: int = 0
    faiss_vectors: int = 0
    missing_from_faiss: list[int] = field(default_factory=list)
    extra_in_faiss: list[int] = field(default_factory=list)
    missing_from_fts: list[int] = field(default_factory=list)
    extra_in_fts: list[int] = field(default_factory=list)
    orphan_chunks: list[int] = field(default_factory=list)
    bad_embeddings: list[int] = field(default_factory=list)
    foreign_model_chunks: list[int] = field(default_factory=list)
    configured_model_mismatch: str | None = None
    # The chunk counter readiness reads, when it disagrees with a real count.
    chunk_counter_mismatch: str | None = None
    repaired: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not (
            self.missing_from_faiss
            or self.extra_in_faiss
            or self.missing_from_fts
            or self.extra_in_fts
            or self.orphan_chunks
            or self.bad_embeddings
            or self.foreign_model_chunks
            or self.configured_model_mismatch
            or self.chunk_counter_mismatch
        )

    def to_dict(self, limit: int = 20) -> dict[str, object]:
        out: dict[str, object] = {"consistent": self.consistent}
        for key in self.__dataclass_fields__:
            value = getattr(self, key)
            if isinstance(value, list) and key != "repaired":
                out[key] = len(value)
                if value:
                    out[f"{key}_sample"] = value[:limit]
            else:
                out[key] = value
        return out


def diagnose(kb: KnowledgeBase, *, configured_model: str | None = None) -> DoctorReport:
    report = DoctorReport()
    stored = kb.stored_embedding_model()
    with kb.read_session() as session:
        chunk_ids = {int(i) for i in session.scalars(select(Chunk.id))}
        report.orphan_chunks = sorted(
            int(i)
            for i in session.scalars(
                select(Chunk.id).outerjoin(Document).where(Document.id.is_(None))
            )
        )
        if stored is not None:
            name, dim = stored
            report.bad_embeddings = sorted(
                int(i)
                for i in session.scalars(
                    select(Chunk.id).where(func.length(Chunk.embedding) != dim * 4)
                )
            )
            report.foreign_model_chunks = sorted(
                int(i)
                for i in session.scalars(select(Chunk.id).where(Chunk.embedding_model != name))
            )
            if configured_model is not None and chunk_ids and configured_model != name:
                report.configured_model_mismatch = (
                    f"store holds '{name}' vectors, '{configured_model}' is configured"
                )
        fts_ids = kb.lexical.indexed_ids(session)
        counted = store.counted_chunks(session)
        if counted != len(chunk_ids):
            report.chunk_counter_mismatch = (
                f"the counter says {counted} chunks, the table holds {len(chunk_ids)}"
            )
    faiss_ids = set(kb.vectors().ids().tolist()) if not report.bad_embeddings else set()
    report.chunks = len(chunk_ids)
    report.faiss_vectors = len(faiss_ids)
    if not report.bad_embeddings:
        report.missing_from_faiss = sorted(chunk_ids - faiss_ids)
        report.extra_in_faiss = sorted(faiss_ids - chunk_ids)
    report.missing_from_fts = sorted(chunk_ids - fts_ids)
    report.extra_in_fts = sorted(fts_ids - chunk_ids)
    return report


def repair(kb: KnowledgeBase, report: DoctorReport, *, embedder: Embedder | None) -> DoctorReport:
    """Fix what ``diagnose`` found; returns a fresh diagnosis with ``repaired`` filled in."""
    done: list[str] = []
    if report.configured_model_mismatch and embedder is not None:
        count = kb.reembed_all(embedder)
        done.append(f"re-embedded all {count} chunks with {embedder.name}")
        report = diagnose(kb)
    if report.orphan_chunks:
        with kb.write_session.begin() as session:
            session.execute(delete(Chunk).where(Chunk.id.in_(report.orphan_chunks)))
            store.commit_changes(
                session,
                removed=report.orphan_chunks,
                retain=kb.settings.store.change_log_generations,
            )
        done.append(f"deleted {len(report.orphan_chunks)} orphan chunks")
    broken = sorted(set(report.bad_embeddings) | set(report.foreign_model_chunks))
    if broken and embedder is not None:
        count = kb.reembed(embedder, chunk_ids=broken)
        done.append(f"re-embedded {count} chunks")
    if report.chunk_counter_mismatch:
        with kb.write_session.begin() as session:
            store.reset_chunk_counter(session)
        done.append("recounted the chunks")
    if report.missing_from_fts or report.extra_in_fts:
        with kb.write_session.begin() as session:
            kb.lexical.rebuild(session)
        done.append("rebuilt the full-text index")
    if done or report.missing_from_faiss or report.extra_in_faiss:
        kb.rebuild_vectors()
        done.append("rebuilt FAISS from the database")
    fresh = diagnose(kb)
    fresh.repaired = done
    return fresh
