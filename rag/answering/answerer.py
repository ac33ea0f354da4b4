"""Question -> [condense with history] -> retrieve -> refuse or pack -> LLM -> cited answer.

``stream()`` is the one implementation; ``ask()`` consumes it, so streamed and non-streamed
answers carry the same citations by construction.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

import numpy as np

from rag.answering.condense import condense_question
from rag.answering.grounding import GroundingReport, check_grounding
from rag.answering.llm import LLM, ChatMessage, GenerationStats
from rag.answering.prompting import SourcePassage, plan_prompt
from rag.embedding import Embedder
from rag.errors import InvalidInputError
from rag.retrieval.retriever import (
    PassageLocation,
    Retriever,
    SearchHit,
    SearchMode,
    location_of,
)
from rag.settings import Settings
from rag.storage import store
from rag.storage.filters import SearchFilter
from rag.storage.knowledge_base import vectors_from_bytes

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


@dataclass(frozen=True, slots=True)
class TokenEvent:
    text: str


@dataclass(frozen=True, slots=True)
class FinalEvent:
    answer: Answer


AnswerEvent = TokenEvent | FinalEvent


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


class Answerer:
    def __init__(
        self, *, retriever: Retriever, llm: LLM, embedder: Embedder, settings: Settings
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.embedder = embedder
        self.settings = settings

    def ask(self, question: str, **options: Unpack[AskOptions]) -> Answer:
        """The whole answer: ``stream`` consumed, so both paths cite the same way."""
        for event in self.stream(question, **options):
            if isinstance(event, FinalEvent):
                return event.answer
        raise RuntimeError("the answer stream ended without a final event")

    def stream(
        self,
        question: str,
        *,
        search_filter: SearchFilter | None = None,
        history: Sequence[ChatMessage] = (),
        k: int | None = None,
        mode: SearchMode | str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Iterator[AnswerEvent]:
        started = time.perf_counter()
        question = question.strip()
        if not question:
            raise InvalidInputError("the question is empty")
        answer_tokens = max_tokens or self.settings.llm.max_tokens
        if answer_tokens >= self.llm.n_ctx // 2:
            raise InvalidInputError(
                f"max_tokens must be below half of the context window ({self.llm.n_ctx // 2})"
            )
        condense_started = time.perf_counter()
        standalone = condense_question(
            question, history, self.llm, use_llm=self.settings.answer.condense_with_llm
        )
        condense_ms = (time.perf_counter() - condense_started) * 1000
        result = self.retriever.search(
            standalone, k=k or self.settings.answer.sources, mode=mode, search_filter=search_filter
        )
        timings = {
            "condense_ms": round(condense_ms, 1),
            "retrieval_ms": result.retrieval_ms,
        }
        best = result.best_dense_score
        answer_id = uuid.uuid4().hex
        retrieved = [h.chunk_id for h in result.hits]
        if not result.hits or best is None or best < self.settings.retrieval.min_relevance:
            # Grounding by code: nothing relevant enough, so the model is not asked at all.
            timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
            yield FinalEvent(
                Answer(
                    answer_id=answer_id,
                    question=question,
                    standalone_question=standalone,
                    answer=REFUSAL_TEXT,
                    citations=[],
                    grounded=False,
                    refused=True,
                    support_score=0.0,
                    unsupported_sentences=[],
                    retrieved_chunk_ids=retrieved,
                    timings=timings,
                )
            )
            return

        hits_by_chunk = {h.chunk_id: h for h in result.hits}
        plan = plan_prompt(
            question=question,
            passages=[
                SourcePassage(h.chunk_id, h.title, h.section, h.page, h.text) for h in result.hits
            ],
            history=history,
            n_ctx=self.llm.n_ctx,
            answer_tokens=answer_tokens,
            count_tokens=self.llm.count_tokens,
            render=self.llm.render,
        )
        pieces: list[str] = []
        stats: GenerationStats | None = None
        for piece in self.llm.stream(
            plan.prompt,
            max_tokens=answer_tokens,
            temperature=temperature,
            should_stop=should_stop,
        ):
            if isinstance(piece, GenerationStats):
                stats = piece
            else:
                pieces.append(piece)
                yield TokenEvent(piece)
        raw_answer = "".join(pieces).strip()
        source_hits = [hits_by_chunk[s.passage.chunk_id] for s in plan.sources]
        report = self._ground(raw_answer, source_hits)
        citations = [
            self._citation(number, source_hits[number - 1], inferred=report.inferred)
            for number in report.cited_numbers
        ]
        if stats is not None:
            timings.update(
                prompt_tokens=stats.prompt_tokens,
                completion_tokens=stats.completion_tokens,
                time_to_first_token_ms=stats.time_to_first_token_ms,
                generation_ms=stats.generation_ms,
                tokens_per_second=stats.tokens_per_second,
            )
        timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
        grounded = (
            bool(citations) and report.support_score >= self.settings.answer.support_threshold
        )
        yield FinalEvent(
            Answer(
                answer_id=answer_id,
                question=question,
                standalone_question=standalone,
                answer=report.text or raw_answer,
                citations=citations,
                grounded=grounded,
                refused=False,
                support_score=report.support_score,
                unsupported_sentences=report.unsupported,
                retrieved_chunk_ids=retrieved,
                timings=timings,
            )
        )

    def _ground(self, answer: str, sources: Sequence[SearchHit]) -> GroundingReport:
        ids = [h.chunk_id for h in sources]
        with self.retriever.kb.read_session() as session:
            rows = store.chunk_embeddings(session, chunk_ids=ids)
        blobs = [rows[i] for i in ids if i in rows]
        vectors = (
            vectors_from_bytes(blobs, self.embedder.dim)
            if len(blobs) == len(ids)
            else self.embedder.encode([h.text for h in sources])
        )
        return check_grounding(
            answer,
            source_vectors=np.ascontiguousarray(vectors),
            source_texts=[h.text for h in sources],
            encode=self.embedder.encode,
            threshold=self.settings.answer.support_threshold,
        )

    @staticmethod
    def _citation(number: int, hit: SearchHit, *, inferred: bool) -> Citation:
        return Citation(
            number=number, snippet=snippet(hit.text), inferred=inferred, **location_of(hit)
        )
