"""What an answer is: the answer with its citations and checks, the events of a streamed
answer, and the draft an answer is built on before the model speaks. Data only; the
pipeline that fills them is ``rag.answering.answerer``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from rag.answering.llm import ChatMessage
from rag.answering.verification import RefusalReason
from rag.retrieval.retriever import PassageLocation, SearchMode
from rag.storage.filters import SearchFilter

REFUSAL_TEXT = "The documents do not contain an answer to this question."


@dataclass(frozen=True, slots=True, kw_only=True)
class Citation(PassageLocation):
    number: int
    snippet: str
    inferred: bool = False


@dataclass(slots=True)
class Answer:
    answer_id: str
    question: str
    standalone_question: str
    answer: str
    citations: list[Citation]
    grounded: bool
    refused: bool
    support_score: float
    unsupported_sentences: list[str]
    retrieved_chunk_ids: list[int]
    timings: dict[str, float] = field(default_factory=dict)
    # Why the answer is a refusal (a RefusalReason value); None for an answer.
    refusal_reason: str | None = None
    # The model started repeating itself; the answer was cut before the repetition.
    looped: bool = False
    # Names, acronyms or numbers of the question that no retrieved passage mentions; for an
    # answer with no words of its own ("Yes [2]"), any word of the question none mentions.
    missing_terms: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TokenEvent:
    text: str


@dataclass(frozen=True, slots=True)
class FinalEvent:
    answer: Answer


AnswerEvent = TokenEvent | FinalEvent


@dataclass(slots=True)
class AnswerDraft:
    """What is known about an answer before the model speaks."""

    question: str
    standalone: str
    retrieved: list[int]
    timings: dict[str, float]
    started: float
    answer_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    looped: bool = False
    missing_terms: list[str] = field(default_factory=list)
    # The question's content words no retrieved passage holds, lower-cased (missing_terms
    # holds its names, acronyms and numbers that none mentions, as written).
    missing_words: list[str] = field(default_factory=list)
    # The best cosine similarity of a retrieved passage to the question (None: lexical).
    relevance: float | None = None

    def _total(self) -> dict[str, float]:
        self.timings["total_ms"] = round((time.perf_counter() - self.started) * 1000, 1)
        return self.timings

    def refusal(self, reason: RefusalReason) -> Answer:
        return Answer(
            answer_id=self.answer_id, question=self.question,
            standalone_question=self.standalone, answer=REFUSAL_TEXT, citations=[],
            grounded=False, refused=True, support_score=0.0, unsupported_sentences=[],
            retrieved_chunk_ids=self.retrieved, timings=self._total(),
            refusal_reason=str(reason), looped=self.looped, missing_terms=self.missing_terms,
        )  # fmt: skip

    def answer(
        self, text: str, citations: list[Citation], *, grounded: bool, support: float,
        unsupported: list[str],
    ) -> Answer:  # fmt: skip
        return Answer(
            answer_id=self.answer_id, question=self.question,
            standalone_question=self.standalone, answer=text, citations=citations,
            grounded=grounded, refused=False, support_score=support,
            unsupported_sentences=unsupported, retrieved_chunk_ids=self.retrieved,
            timings=self._total(), looped=self.looped, missing_terms=self.missing_terms,
        )  # fmt: skip


def snippet(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


class AskOptions(TypedDict, total=False):
    """The keyword arguments of ``Answerer.stream`` besides the question and the stop flag."""

    search_filter: SearchFilter | None
    history: Sequence[ChatMessage]
    k: int | None
    mode: SearchMode | str | None
    max_tokens: int | None
    temperature: float | None
