"""Answer serialization and the answer log shared by every answering endpoint."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rag.knowledge_base import KnowledgeBase
from rag.models import AnswerLog
from rag.pipeline import Answer


def answer_payload(answer: Answer) -> dict[str, Any]:
    return {
        "answer_id": answer.answer_id,
        "question": answer.question,
        "standalone_question": answer.standalone_question,
        "answer": answer.answer,
        "citations": [asdict(c) for c in answer.citations],
        "grounded": answer.grounded,
        "refused": answer.refused,
        "support_score": answer.support_score,
        "unsupported_sentences": answer.unsupported_sentences,
        "timings": answer.timings,
    }


def log_answer(kb: KnowledgeBase, answer: Answer, *, endpoint: str) -> None:
    with kb.write_session.begin() as session:
        session.add(
            AnswerLog(
                id=answer.answer_id,
                question=answer.question,
                standalone_question=answer.standalone_question,
                answer=answer.answer,
                retrieved_chunk_ids=answer.retrieved_chunk_ids,
                cited_chunk_ids=[c.chunk_id for c in answer.citations],
                grounded=answer.grounded,
                refused=answer.refused,
                latency_ms=float(answer.timings.get("total_ms", 0.0)),
                endpoint=endpoint,
            )
        )
