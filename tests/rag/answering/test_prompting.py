from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.answering.llm import ChatMessage, LlamaCppLLM
from rag.answering.prompting import (
    EXAMPLE_TURNS,
    PROCEDURE_EXAMPLE_TURNS,
    SourcePassage,
    format_source,
    instructions_prefix,
    plan_prompt,
    ranked_indices,
    trim_history,
)


def words(n: int) -> str:
    return " ".join(f"word{i % 97}" for i in range(n))


def fake_count(text: str) -> int:
    return len(text.split())


def fake_render(messages) -> str:
    return "\n".join(f"<{m.role}> {m.content}" for m in messages)


def passage(i: int, n_words: int) -> SourcePassage:
    return SourcePassage(i, f"Doc {i}", None, None, words(n_words))


def test_sources_are_packed_best_first_shown_best_last_and_skipped_when_too_long() -> None:
    passages = [passage(1, 50), passage(2, 500), passage(3, 50)]
    plan = plan_prompt(
        question="why?",
        passages=passages,
        history=[],
        n_ctx=300,
        answer_tokens=50,
        count_tokens=fake_count,
        render=fake_render,
    )
    assert [s.passage.chunk_id for s in plan.sources] == [3, 1]
    assert [s.number for s in plan.sources] == [1, 2]
    assert "[1] Doc 3" in plan.prompt
    assert plan.prompt.index("[2] Doc 1") < plan.prompt.index("Question: why?")
    assert plan.prompt.index("[1] Doc 3") < plan.prompt.index("[2] Doc 1")
    assert plan.prompt_tokens <= 250


def test_a_question_asking_for_steps_is_shown_a_worked_procedure() -> None:
    def plan(question: str) -> str:
        return plan_prompt(
            question=question, passages=[passage(1, 20)], history=[], n_ctx=2000,
            answer_tokens=50, count_tokens=fake_count, render=fake_render,
        ).prompt  # fmt: skip

    procedure = instructions_prefix(fake_render, examples=PROCEDURE_EXAMPLE_TURNS)
    span = instructions_prefix(fake_render)
    for question in (
        "How do I fix a flat tyre?",
        "how can we store bikes over winter?",
        "What are the steps to adjust the brakes?",
        "How to true a wheel?",
        "Explain how to oil the chain.",
        "Explain step by step, in great detail, everything about fixing a flat tyre.",
    ):
        assert plan(question).startswith(procedure), question
    for question in (
        "How many volunteers are there?",
        "How did Luther react?",
        "What should the rent be?",
        "When is the workshop open?",
        "Explain the rules.",
    ):
        assert plan(question).startswith(span), question
    assert EXAMPLE_TURNS[-1].content not in procedure
    assert PROCEDURE_EXAMPLE_TURNS[-1].content not in span


def test_history_keeps_the_most_recent_turns() -> None:
    history = [ChatMessage("user", words(30)), ChatMessage("assistant", words(30))] * 3
    kept = trim_history(history, budget=80, count_tokens=fake_count)
    assert kept == history[-2:]
    kept_odd = trim_history(history, budget=40, count_tokens=fake_count)
    assert kept_odd == []  # a lone assistant reply is not kept


def test_format_source_shows_title_section_and_page() -> None:
    text = format_source(3, SourcePassage(1, "Report", "Finances", 2, " body "))
    assert text == "[3] Report - Finances - page 2\nbody"


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    chunk_sizes=st.lists(st.integers(min_value=1, max_value=900), min_size=0, max_size=12),
    history_sizes=st.lists(st.integers(min_value=1, max_value=700), min_size=0, max_size=8),
    question_words=st.integers(min_value=1, max_value=120),
    answer_tokens=st.integers(min_value=16, max_value=512),
)
def test_prompt_never_exceeds_the_context_window(
    llm: LlamaCppLLM,
    chunk_sizes: list[int],
    history_sizes: list[int],
    question_words: int,
    answer_tokens: int,
) -> None:
    """With the real SmolLM2 tokenizer and chat template: long chunks, long history."""
    roles = ["user", "assistant"]
    history = [ChatMessage(roles[i % 2], words(n)) for i, n in enumerate(history_sizes)]
    passages = [passage(i, n) for i, n in enumerate(chunk_sizes)]
    plan = plan_prompt(
        question=words(question_words) + "?",
        passages=passages,
        history=history,
        n_ctx=llm.n_ctx,
        answer_tokens=answer_tokens,
        count_tokens=llm.count_tokens,
        render=llm.render,
    )
    assert plan.prompt_tokens == llm.count_tokens(plan.prompt)
    assert plan.prompt_tokens + answer_tokens <= llm.n_ctx
    used = [s.passage.chunk_id for s in plan.sources]
    assert used == sorted(used, reverse=True)  # rank order kept, the best shown last
    # The checks after the answer read the sources best-ranked first through this helper.
    assert [used[i] for i in ranked_indices(len(used))] == sorted(used)
