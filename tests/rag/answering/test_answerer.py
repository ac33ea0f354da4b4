"""End-to-end answering with the real SmolLM2 GGUF through llama.cpp."""

from __future__ import annotations

import pytest

from rag.answering.answerer import Answerer
from rag.answering.answers import REFUSAL_TEXT, FinalEvent, TokenEvent
from rag.answering.condense import condense_question, rule_based_condense
from rag.answering.llm import ChatMessage, LlamaCppLLM
from rag.errors import InvalidInputError


def test_sample_question_is_answered_with_a_citation(rag_pipeline: Answerer) -> None:
    answer = rag_pipeline.ask("How much does a yearly membership cost?", max_tokens=60)
    assert not answer.refused
    assert answer.answer and answer.answer != REFUSAL_TEXT
    assert answer.citations, answer
    sources = {c.source.rsplit("/", 1)[-1] for c in answer.citations}
    assert "handbook.md" in sources
    cited = next(c for c in answer.citations if c.source.endswith("handbook.md"))
    assert cited.snippet and cited.document_id > 0
    assert answer.timings["prompt_tokens"] > 0 and answer.timings["completion_tokens"] > 0
    assert 0.0 < answer.support_score <= 1.0


def test_off_topic_question_is_refused_without_calling_the_llm(
    rag_pipeline: Answerer, llm: LlamaCppLLM
) -> None:
    calls = llm.calls
    answer = rag_pipeline.ask("What is the boiling point of liquid nitrogen in Kelvin?")
    assert llm.calls == calls
    assert answer.refused and not answer.grounded
    assert answer.answer == REFUSAL_TEXT
    assert answer.citations == []


def test_streamed_and_plain_answers_carry_the_same_citations(rag_pipeline: Answerer) -> None:
    question = "What are the opening hours on Saturday?"
    plain = rag_pipeline.ask(question, max_tokens=48)
    events = list(rag_pipeline.stream(question, max_tokens=48))
    tokens = [e.text for e in events if isinstance(e, TokenEvent)]
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert all(isinstance(e, TokenEvent) for e in events[:-1]) and tokens
    assert [(c.number, c.chunk_id) for c in final.answer.citations] == [
        (c.number, c.chunk_id) for c in plain.citations
    ]
    assert final.answer.answer == plain.answer  # temperature 0, same seed
    for key in ("retrieval_ms", "prompt_tokens", "time_to_first_token_ms", "tokens_per_second"):
        assert key in final.answer.timings


def test_stop_callback_ends_generation_early(rag_pipeline: Answerer) -> None:
    events = list(
        rag_pipeline.stream(
            "Describe the history of the co-op.", max_tokens=200, should_stop=lambda: True
        )
    )
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert final.answer.timings["completion_tokens"] <= 2


def test_follow_up_is_condensed_using_history(rag_pipeline: Answerer) -> None:
    history = [
        ChatMessage("user", "How much does a yearly membership cost?"),
        ChatMessage("assistant", "It costs 40 euros [1]."),
    ]
    answer = rag_pipeline.ask("And for students?", history=history, max_tokens=48)
    assert answer.standalone_question != "And for students?"
    assert "membership" in answer.standalone_question.lower()
    assert not answer.refused
    hits = rag_pipeline.retriever.search(answer.standalone_question, k=1).hits
    assert "15 euros" in hits[0].text and hits[0].chunk_id in answer.retrieved_chunk_ids


def test_a_standalone_follow_up_costs_no_llm_call(llm: LlamaCppLLM) -> None:
    history = [
        ChatMessage("user", "How much does a yearly membership cost?"),
        ChatMessage("assistant", "It costs 30 EUR [1]."),
    ]
    calls = llm.calls
    question = "When is the workshop open on Saturday?"
    assert condense_question(question, history, llm) == question
    assert llm.calls == calls
    condense_question("And for students?", history, llm)
    assert llm.calls == calls + 1


def test_rule_based_condense_adds_the_previous_topic() -> None:
    history = [ChatMessage("user", "How do I replace brake pads?")]
    assert "brake" in rule_based_condense("What about disc ones?", history)
    assert rule_based_condense("How long is a repair café?", history) == (
        "How long is a repair café?"
    )
    assert condense_question("Anything?", [], llm=None) == "Anything?"


def test_bad_requests_are_invalid_input(rag_pipeline: Answerer) -> None:
    with pytest.raises(InvalidInputError):
        rag_pipeline.ask("   ")
    with pytest.raises(InvalidInputError):
        rag_pipeline.ask("Opening hours?", max_tokens=5000)
