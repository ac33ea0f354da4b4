"""The answer log and the feedback on it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from rag.errors import NotFoundError
from rag.storage.models import AnswerLog, Feedback


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
) -> None:
    session.add(
        AnswerLog(
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
        )
    )


def add_feedback(session: Session, *, answer_id: str, rating: int, comment: str) -> Feedback:
    if session.get(AnswerLog, answer_id) is None:
        raise NotFoundError(f"answer '{answer_id}' does not exist")
    row = Feedback(answer_id=answer_id, rating=rating, comment=comment)
    session.add(row)
    session.flush()
    return row
