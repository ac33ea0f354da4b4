"""The answer log and the feedback on it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from rag.errors import NotFoundError
from rag.storage.models import AnswerCitation, AnswerLog, BatchItem, Feedback, as_utc, utcnow


def log_answer(
    session: Session,
    *,
    answer_id: str,
    question: str,
    standalone_question: str,
    answer: str,
    retrieved_chunk_ids: Sequence[int],
    cited_chunk_ids: Sequence[int],
    grounded: bool,
    refused: bool,
    latency_ms: float,
    endpoint: str,
    collection: str = "",
    refusal_reason: str | None = None,
    support_score: float = 0.0,
    sentences: int = 0,
    unsupported_sentences: int = 0,
    time_to_first_token_ms: float | None = None,
    created_at: datetime | None = None,
) -> None:
    session.add(
        AnswerLog(
            created_at=created_at or utcnow(),
            id=answer_id,
            question=question,
            standalone_question=standalone_question,
            answer=answer,
            retrieved_chunk_ids=list(retrieved_chunk_ids),
            cited_chunk_ids=list(cited_chunk_ids),
            grounded=grounded,
            refused=refused,
            latency_ms=latency_ms,
            endpoint=endpoint,
            collection=collection,
            refusal_reason=refusal_reason,
            support_score=support_score,
            sentences=sentences,
            unsupported_sentences=unsupported_sentences,
            time_to_first_token_ms=time_to_first_token_ms,
        )
    )
    session.flush()  # the answer row first: its citations refer to it
    session.add_all(
        AnswerCitation(answer_id=answer_id, chunk_id=chunk_id)
        for chunk_id in dict.fromkeys(cited_chunk_ids)
    )


REDACTED = "[removed: a document this answer quoted was deleted]"


def redact_answers_citing(session: Session, *, chunk_ids: Sequence[int]) -> int:
    """Remove the text of every logged answer (and batch result) that cites one of
    ``chunk_ids``: the chunks' document is being deleted, its words must not outlive it in
    cached answers. Citations of those chunks lose their snippets. Returns how many answers."""
    removed = set(chunk_ids)
    answer_ids: set[str] = set()
    chunk_list = list(removed)
    for start in range(0, len(chunk_list), 500):
        answer_ids.update(
            session.scalars(
                select(AnswerCitation.answer_id).where(
                    AnswerCitation.chunk_id.in_(chunk_list[start : start + 500])
                )
            )
        )
    if not answer_ids:
        return 0
    ids = sorted(answer_ids)
    session.execute(update(AnswerLog).where(AnswerLog.id.in_(ids)).values(answer=REDACTED))
    for item in session.scalars(select(BatchItem).where(BatchItem.answer_id.in_(ids))):
        if item.result is not None:
            citations = [
                {**c, "snippet": ""} if c.get("chunk_id") in removed else c
                for c in item.result.get("citations", [])
            ]
            item.result = {**item.result, "answer": REDACTED, "citations": citations}
    return len(ids)


def add_feedback(session: Session, *, answer_id: str, rating: int, comment: str) -> Feedback:
    if session.get(AnswerLog, answer_id) is None:
        raise NotFoundError(f"answer '{answer_id}' does not exist")
    row = Feedback(answer_id=answer_id, rating=rating, comment=comment)
    session.add(row)
    session.flush()
    return row


def collection_of(session: Session, *, answer_id: str) -> str:
    """The collection a logged answer was asked of ("" for all of them)."""
    answer = session.get(AnswerLog, answer_id)
    return answer.collection if answer is not None else ""


@dataclass(frozen=True, slots=True)
class LoggedAnswer:
    """One answer-log row as the quality report reads it."""

    answer_id: str
    created_at: datetime
    collection: str
    question: str
    answer: str
    refused: bool
    refusal_reason: str | None
    support_score: float
    sentences: int
    unsupported_sentences: int
    citations: int
    latency_ms: float


@dataclass(frozen=True, slots=True)
class LoggedFeedback:
    answer_id: str
    rating: int
    comment: str


def answers_since(
    session: Session, *, since: datetime | None = None, collection: str | None = None
) -> tuple[list[LoggedAnswer], list[LoggedFeedback]]:
    """The logged answers (oldest first) and the feedback on them, optionally from a time on
    and for one collection."""
    query = select(AnswerLog).order_by(AnswerLog.created_at, AnswerLog.id)
    if since is not None:
        query = query.where(AnswerLog.created_at >= since)
    if collection is not None:
        query = query.where(AnswerLog.collection == collection)
    answers = [_logged(row) for row in session.scalars(query)]
    ids = [a.answer_id for a in answers]
    feedback: list[LoggedFeedback] = []
    for start in range(0, len(ids), 500):  # IN lists of a bounded size
        rows = session.scalars(
            select(Feedback)
            .where(Feedback.answer_id.in_(ids[start : start + 500]))
            .order_by(Feedback.id)
        )
        feedback += [LoggedFeedback(r.answer_id, r.rating, r.comment) for r in rows]
    return answers, feedback


def _logged(row: AnswerLog) -> LoggedAnswer:
    return LoggedAnswer(
        answer_id=row.id, created_at=as_utc(row.created_at), collection=row.collection,
        question=row.question, answer=row.answer, refused=row.refused,
        refusal_reason=row.refusal_reason, support_score=row.support_score,
        sentences=row.sentences, unsupported_sentences=row.unsupported_sentences,
        citations=len(row.cited_chunk_ids or []), latency_ms=row.latency_ms,
    )  # fmt: skip


def purge_before(session: Session, *, moment: datetime) -> int:
    """Delete the answers logged before ``moment`` (their feedback and citation rows go with
    them, by foreign key); returns how many answers."""
    result = session.execute(delete(AnswerLog).where(AnswerLog.created_at < moment))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
