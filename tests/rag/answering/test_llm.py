"""The in-process llama.cpp LLM: the cached instructions prefix, with the default model."""

from __future__ import annotations

from rag.answering.llm import ChatMessage, LlamaCppLLM, complete
from rag.answering.prompting import EXAMPLE_TURNS, SYSTEM_PROMPT, instructions_prefix


def answer_prompt(llm: LlamaCppLLM, question: str) -> str:
    messages = [ChatMessage("system", SYSTEM_PROMPT), *EXAMPLE_TURNS]
    source = "Sources:\n[1] Handbook\nThe workshop is open on Saturday from 10:00 to 16:00."
    return llm.render([*messages, ChatMessage("user", f"{source}\n\nQuestion: {question}")])


def test_every_answer_prompt_starts_with_the_cached_prefix(llm: LlamaCppLLM) -> None:
    prefix = instructions_prefix(llm.render)
    assert answer_prompt(llm, "When?").startswith(prefix)
    assert answer_prompt(llm, "Who?").startswith(prefix)
    assert SYSTEM_PROMPT in prefix and not prefix.endswith(SYSTEM_PROMPT)


def test_the_prefix_state_comes_back_after_another_prompt_used_the_context(
    llm: LlamaCppLLM,
) -> None:
    size = llm.cache_prefix(instructions_prefix(llm.render))
    assert size > 100  # instructions plus the worked example
    prompt = answer_prompt(llm, "When is the workshop open on Saturday?")
    cold = complete(llm, prompt, max_tokens=16, temperature=0.0)

    llm.yes_probability(llm.render([ChatMessage("user", "Is the sky green? Yes or no.")]))
    assert list(llm.llama.input_ids[:size]) != llm._prefix_tokens  # the context moved on
    llm._resume_prefix(prompt)
    assert llm.llama.n_tokens == size
    assert list(llm.llama.input_ids[:size]) == llm._prefix_tokens

    llm.yes_probability(llm.render([ChatMessage("user", "Is the sky green? Yes or no.")]))
    warm = complete(llm, prompt, max_tokens=16, temperature=0.0)
    assert warm == cold and "10:00" in warm


def test_a_prompt_without_the_prefix_leaves_the_context_alone(llm: LlamaCppLLM) -> None:
    llm.cache_prefix(instructions_prefix(llm.render))
    other = llm.render([ChatMessage("user", "Say hello.")])
    llm.yes_probability(other + " ")
    held = llm.llama.n_tokens
    llm._resume_prefix(other)
    assert llm.llama.n_tokens == held
