"""Question -> [condense with history] -> retrieve -> refuse or pack -> LLM -> cited answer.

``stream()`` is the one implementation; ``ask()`` consumes it, so streamed and non-streamed
answers carry the same citations by construction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Unpack

import numpy as np

from rag.answering.answers import (
    Answer,
    AnswerDraft,
    AnswerEvent,
    AskOptions,
    Citation,
    FinalEvent,
    TokenEvent,
    snippet,
)
from rag.answering.condense import condense_question
from rag.answering.context import ExpandedPassage, NeighbourChunk, expand_all
from rag.answering.evidence import (
    Vocabulary,
    missing_terms,
    missing_words,
    passage_vocabulary,
    question_coverage,
)
from rag.answering.grounding import (
    GroundingReport,
    check_grounding,
    cited_to,
    without_source_markup,
)
from rag.answering.llm import LLM, ChatMessage, GenerationStats
from rag.answering.prompting import (
    PROCEDURE_EXAMPLE_TURNS,
    PromptPlan,
    SourcePassage,
    instructions_prefix,
    plan_prompt,
)
from rag.answering.verification import (
    RefusalReason,
    Verdict,
    declines,
    has_content,
    missing_facts,
    only_loop,
    says_nothing_of_its_own,
    strip_loop,
    verification_messages,
    verification_prefix,
    verify_sources,
    with_relevance,
    yes_needed,
)
from rag.bundled import LLM_PRESETS
from rag.embedding import Embedder
from rag.errors import InvalidInputError
from rag.retrieval.retriever import (
    Retriever,
    SearchHit,
    SearchMode,
    SearchResult,
    location_of,
)
from rag.settings import Settings
from rag.storage import store
from rag.storage.filters import SearchFilter

# For a GGUF given by path, whose calibration is unknown.
DEFAULT_MIN_VERIFICATION = 0.5


def min_verification(settings: Settings, *, missing_terms: bool = False) -> float:
    """Least P(yes) of the verification pass: configured, else calibrated for the preset. A
    question naming something no passage mentions needs a surer yes."""
    configured = (
        settings.answer.min_verification_missing_terms
        if missing_terms
        else settings.answer.min_verification
    )
    if configured is not None:
        return configured
    if settings.llm.model_path is not None:
        return DEFAULT_MIN_VERIFICATION
    preset = LLM_PRESETS[settings.llm.preset]
    return preset.min_verification_missing_terms if missing_terms else preset.min_verification


def verifies(settings: Settings) -> bool:
    """Whether the verification pass runs: configured, else the preset's (on for a model
    given by path)."""
    if settings.answer.verify is not None:
        return settings.answer.verify
    if settings.llm.model_path is not None:
        return True
    return LLM_PRESETS[settings.llm.preset].verifies


def relevance_weight(settings: Settings) -> float:
    """How far retrieval's best cosine moves P(yes): configured, else calibrated for the
    preset (0, off, for a model given by path)."""
    if settings.answer.verification_relevance_weight is not None:
        return settings.answer.verification_relevance_weight
    if settings.llm.model_path is not None:
        return 0.0
    return LLM_PRESETS[settings.llm.preset].relevance_weight


class Answerer:
    def __init__(
        self, *, retriever: Retriever, llm: LLM, embedder: Embedder, settings: Settings
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.embedder = embedder
        self.settings = settings
        # Evaluated once, by the first prompt that starts with them, so no later answer pays
        # for the instructions (nor any verification for its worked examples) again.
        if verifies(settings):
            llm.cache_prefix(verification_prefix(llm.render))
        llm.cache_prefix(instructions_prefix(llm.render))
        llm.cache_prefix(instructions_prefix(llm.render, examples=PROCEDURE_EXAMPLE_TURNS))

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
        standalone = condense_question(
            question, history, self.llm, use_llm=self.settings.answer.condense_with_llm
        )
        condense_ms = (time.perf_counter() - started) * 1000
        result, packed = self._retrieve(standalone, k=k, mode=mode, search_filter=search_filter)
        draft = AnswerDraft(
            question=question,
            standalone=standalone,
            retrieved=[h.chunk_id for h in result.hits],
            timings={"condense_ms": round(condense_ms, 1), "retrieval_ms": result.retrieval_ms},
            started=started,
            relevance=result.best_dense_score,
        )
        if draft.relevance is not None:
            draft.timings["best_relevance"] = round(draft.relevance, 4)
        vocabulary = self._evidence(standalone, result)
        if vocabulary is None:
            # Grounding by code: nothing relevant enough, so the model is not asked at all.
            yield FinalEvent(draft.refusal(RefusalReason.NO_RELEVANT_SOURCES))
            return
        draft.missing_terms = missing_terms(standalone, vocabulary)
        draft.missing_words = missing_words(standalone, vocabulary)
        hits_by_chunk = {h.chunk_id: h for h in result.hits}
        plan = self._plan(question, result.hits, packed, history, answer_tokens)
        text = yield from self._generate(
            plan.prompt, draft, max_tokens=answer_tokens, temperature=temperature,
            should_stop=should_stop,
        )  # fmt: skip
        sources = [(hits_by_chunk[s.passage.chunk_id], s.passage.text) for s in plan.sources]
        yield FinalEvent(self._verified(draft, text, sources))

    def packed_prompt(
        self, question: str, *, search_filter: SearchFilter | None = None
    ) -> str | None:
        """The prompt ``stream`` sends the LLM for a first question (None: refused before
        the LLM). For benchmarks that compare the LLM path with plain llama.cpp."""
        result, packed = self._retrieve(question, k=None, mode=None, search_filter=search_filter)
        if self._evidence(question, result) is None:
            return None
        return self._plan(question, result.hits, packed, (), self.settings.llm.max_tokens).prompt

    def _retrieve(
        self,
        question: str,
        *,
        k: int | None,
        mode: SearchMode | str | None,
        search_filter: SearchFilter | None,
    ) -> tuple[SearchResult, int]:
        """The retrieved passages and how many of the best go into the prompt (the caller's
        ``k``, else ``prompt_sources``). The checks before the model read all of them."""
        packed = k or self.settings.answer.prompt_sources
        result = self.retriever.search(
            question,
            k=max(packed, self.settings.answer.sources),
            mode=mode,
            search_filter=search_filter,
        )
        return result, packed

    def _evidence(self, question: str, result: SearchResult) -> Vocabulary | None:
        """The retrieved passages' words, when some passage is close in meaning and, unless
        one is very close, together they hold most of the question's words (a question on
        another subject shares only a few general ones); None when the question is to be
        refused unasked."""
        best = result.best_dense_score
        if not result.hits or best is None or best < self.settings.retrieval.min_relevance:
            return None
        vocabulary = passage_vocabulary([(h.title, h.section, h.text) for h in result.hits])
        checks = self.settings.answer
        if (
            best < checks.coverage_check_below
            and question_coverage(question, vocabulary) < checks.min_question_coverage
        ):
            return None
        return vocabulary

    def _plan(
        self,
        question: str,
        hits: Sequence[SearchHit],
        packed: int,
        history: Sequence[ChatMessage],
        answer_tokens: int,
    ) -> PromptPlan:
        """The prompt with the best ``packed`` passages. A hit that an earlier passage has
        grown over adds no passage, so the next hit's does: with sections as chunks the
        second hit is often the first one's neighbour."""
        hits_by_chunk = {h.chunk_id: h for h in hits}
        passages = [
            SourcePassage(p.chunk_id, hit.title, hit.section, hit.page, p.text)
            for p in self._expanded(hits, limit=packed)
            if (hit := hits_by_chunk[p.chunk_id])
        ]
        return plan_prompt(
            question=question,
            passages=passages,
            history=history,
            n_ctx=self.llm.n_ctx,
            answer_tokens=answer_tokens,
            count_tokens=self.llm.count_tokens,
            render=self.llm.render,
        )

    def _expanded(self, hits: Sequence[SearchHit], *, limit: int) -> list[ExpandedPassage]:
        kb = self.retriever.kb

        def neighbours(document_id: int, first: int, last: int) -> list[NeighbourChunk]:
            with kb.read_session() as session:
                rows = store.chunks_around(session, document_id=document_id, first=first, last=last)
            return [NeighbourChunk(*row) for row in rows]

        return expand_all(
            [(h.chunk_id, h.document_id, h.ordinal) for h in hits],
            neighbours,
            target_tokens=self.settings.answer.passage_tokens,
            limit=limit,
        )

    def _generate(
        self,
        prompt: str,
        draft: AnswerDraft,
        *,
        max_tokens: int,
        temperature: float | None,
        should_stop: Callable[[], bool] | None,
    ) -> Generator[TokenEvent, None, str]:
        """Stream the model's tokens; a loop (the same words over and over) ends it early."""
        pieces: list[str] = []
        looping = False

        def stop() -> bool:
            nonlocal looping
            if len(pieces) % 8 == 0 and not looping:
                looping = strip_loop("".join(pieces))[1]
            return looping or (should_stop is not None and should_stop())

        for piece in self.llm.stream(
            prompt, max_tokens=max_tokens, temperature=temperature, should_stop=stop
        ):
            if isinstance(piece, GenerationStats):
                draft.timings.update(
                    prompt_tokens=piece.prompt_tokens,
                    completion_tokens=piece.completion_tokens,
                    time_to_first_token_ms=piece.time_to_first_token_ms,
                    generation_ms=piece.generation_ms,
                    tokens_per_second=piece.tokens_per_second,
                )
            else:
                pieces.append(piece)
                yield TokenEvent(piece)
        generated = "".join(pieces).strip()
        text, looped = strip_loop(generated)
        draft.looped = looped or looping
        # Nothing but a loop: the cut keeps a fragment, which is refused as empty.
        return "" if only_loop(generated) else text

    def _verified(
        self, draft: AnswerDraft, text: str, sources: Sequence[tuple[SearchHit, str]]
    ) -> Answer:
        """The answer, or a refusal with its reason when a check fails."""
        texts = [passage for _, passage in sources]
        text = without_source_markup(text, texts)
        if not has_content(text):
            return draft.refusal(RefusalReason.EMPTY)
        if declines(text):
            return draft.refusal(RefusalReason.MODEL_DECLINED)
        if says_nothing_of_its_own(text):
            # "Yes [2]" asserts the question, so every word of it is a term to find: an
            # off-topic claim ("Obesity decreases life quality.") drew a "yes" from a
            # passage that has none of "quality".
            named = {term.lower() for term in draft.missing_terms}
            draft.missing_terms += [w for w in draft.missing_words if w not in named]
        report = self._ground(draft.standalone, text, texts)
        key = report.sentences[0] if report.sentences else None
        if key is None:
            return draft.refusal(RefusalReason.EMPTY)
        key_number = key.cited[0] if key.cited else key.best_source or 1
        unfounded = [s.text for s in report.sentences if missing_facts(s.text, texts)]
        holder = None if key.text in unfounded else self._holder(draft, texts, key_number)
        if holder is None:
            return draft.refusal(RefusalReason.UNSUPPORTED)
        if holder != key_number:
            report = cited_to(report, holder)
        unsupported = list(report.unsupported)
        unsupported += [s for s in unfounded if s not in unsupported]
        citations = [
            self._citation(number, sources[number - 1][0], inferred=report.inferred)
            for number in report.cited_numbers
        ]
        grounded = (
            bool(citations)
            and not unsupported
            and report.support_score >= self.settings.answer.support_threshold
        )
        return draft.answer(
            report.text or text, citations, grounded=grounded, support=report.support_score,
            unsupported=unsupported,
        )  # fmt: skip

    def _holder(self, draft: AnswerDraft, texts: Sequence[str], cited: int) -> int | None:
        """The number of the source that holds the answer: the cited one when verification
        is off or confirms it, another packed source the verification pass confirms (when
        the settings let it ask them), or None when none reaches the threshold."""
        if not verifies(self.settings):
            return cited
        floor = min_verification(self.settings, missing_terms=bool(draft.missing_terms))
        weight = relevance_weight(self.settings)
        needed = yes_needed(floor, draft.relevance, weight)
        verdict = self._verification(draft, texts, cited - 1, floor=needed)
        score = with_relevance(verdict.yes, draft.relevance, weight)
        draft.timings["verification_score"] = round(score, 4)
        return verdict.source + 1 if verdict.yes >= needed else None

    def _verification(
        self, draft: AnswerDraft, texts: Sequence[str], first: int, *, floor: float
    ) -> Verdict:
        """The verification pass over the packed sources, the cited one (index ``first``)
        asked first; its best P(yes) and where it was found are recorded in the timings."""
        started = time.perf_counter()
        verdict = verify_sources(
            lambda source: self.llm.yes_probability(
                self.llm.render(verification_messages(draft.standalone, source))
            ),
            texts,
            first=first,
            floor=floor,
            others=self.settings.answer.verify_sources == "packed",
        )
        draft.timings["verification_yes"] = round(verdict.yes, 4)
        draft.timings["verification_source"] = verdict.source + 1
        draft.timings["verification_passes"] = verdict.passes
        draft.timings["verification_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return verdict

    def _ground(self, question: str, answer: str, texts: Sequence[str]) -> GroundingReport:
        return check_grounding(
            answer,
            question=question,
            source_vectors=np.ascontiguousarray(self.embedder.encode(list(texts))),
            source_texts=texts,
            encode=self.embedder.encode,
            threshold=self.settings.answer.support_threshold,
        )

    @staticmethod
    def _citation(number: int, hit: SearchHit, *, inferred: bool) -> Citation:
        return Citation(
            number=number, snippet=snippet(hit.text), inferred=inferred, **location_of(hit)
        )
