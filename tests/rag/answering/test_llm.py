"""The in-process llama.cpp LLM: the cached prefixes (answer instructions, verification
examples), with the default model."""

from __future__ import annotations

import numpy as np
import pytest

from rag.answering.llm import ChatMessage, LlamaCppLLM, complete
from rag.answering.prompting import (
    EXAMPLE_TURNS,
    SYSTEM_PROMPT,
    instructions_prefix,
    shared_start,
)
from rag.answering.verification import verification_messages, verification_prefix


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
    prefix_tokens = llm.format.prompt_tokens(instructions_prefix(llm.render))
    prompt = answer_prompt(llm, "When is the workshop open on Saturday?")
    cold = complete(llm, prompt, max_tokens=16, temperature=0.0)

    llm.yes_probability(llm.render([ChatMessage("user", "Is the sky green? Yes or no.")]))
    assert list(llm.llama.input_ids[:size]) != prefix_tokens  # the context moved on
    llm._resume_prefix(prompt)
    assert llm.llama.n_tokens == size
    assert list(llm.llama.input_ids[:size]) == prefix_tokens

    llm.yes_probability(llm.render([ChatMessage("user", "Is the sky green? Yes or no.")]))
    warm = complete(llm, prompt, max_tokens=16, temperature=0.0)
    assert warm == cold and "10:00" in warm


def test_a_prefix_is_evaluated_by_the_first_prompt_that_starts_with_it(
    llm: LlamaCppLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    opening = [ChatMessage("system", "You judge riddles. Reply with Yes or No only.")]
    evaluated: list[int] = []
    real_eval = llm.llama.eval
    monkeypatch.setattr(
        llm.llama, "eval", lambda tokens: evaluated.append(len(tokens)) or real_eval(tokens)
    )
    size = llm.cache_prefix(shared_start(llm.render, opening))
    assert size > 0 and evaluated == []  # registered, not evaluated
    asked = llm.render([*opening, ChatMessage("user", "Is a riddle a question?")])
    other = llm.render([ChatMessage("user", "Is the sky green? Yes or no.")])
    llm.yes_probability(other)
    evaluated.clear()
    llm.yes_probability(asked)
    assert evaluated == [size, llm.count_tokens(asked) - size]  # the prefix alone, then the rest
    llm.yes_probability(other)
    evaluated.clear()
    llm.yes_probability(asked)
    assert evaluated == [llm.count_tokens(asked) - size]  # its state restored, not evaluated


def test_a_prompt_without_the_prefix_leaves_the_context_alone(llm: LlamaCppLLM) -> None:
    llm.cache_prefix(instructions_prefix(llm.render))
    other = llm.render([ChatMessage("user", "Say hello.")])
    llm.yes_probability(other + " ")
    held = llm.llama.n_tokens
    llm._resume_prefix(other)
    assert llm.llama.n_tokens == held


def cold_yes_probability(llm: LlamaCppLLM, prompt: str) -> float:
    """P(yes) from an emptied context: every token of the prompt evaluated."""
    import llama_cpp

    tokens = llm.llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
    llm.llama.reset()
    llm.llama.eval(tokens)
    pointer = llama_cpp.llama_get_logits_ith(llm.llama.ctx, -1)
    logits = np.ctypeslib.as_array(pointer, shape=(llm.llama.n_vocab(),))
    yes = max(logits[t] for t in llm.format.yes_tokens)
    no = max(logits[t] for t in llm.format.no_tokens)
    return float(1.0 / (1.0 + np.exp(no - yes)))


def test_a_verification_after_an_answer_evaluates_only_its_source_and_question(
    llm: LlamaCppLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm._prefixes.clear()  # the session's model: earlier tests evaluated its prefixes
    examples = llm.cache_prefix(verification_prefix(llm.render))
    llm.cache_prefix(instructions_prefix(llm.render))
    assert examples > 150  # the instruction and the worked examples
    source = "The workshop is open on Saturday from 10:00 to 16:00 and closed on Sunday."
    prompts = [
        llm.render(verification_messages(question, source))
        for question in ("When is the workshop open on Saturday?", "Who founded the workshop?")
    ]
    cold = [cold_yes_probability(llm, p) for p in prompts]

    evaluated: list[int] = []
    real_eval = llm.llama.eval
    monkeypatch.setattr(
        llm.llama, "eval", lambda tokens: evaluated.append(len(tokens)) or real_eval(tokens)
    )
    complete(llm, answer_prompt(llm, "When?"), max_tokens=4, temperature=0.0)  # context moves on
    evaluated.clear()
    first = llm.yes_probability(prompts[0])  # evaluates the examples alone, then the rest
    assert evaluated == [examples, llm.count_tokens(prompts[0]) - examples]
    complete(llm, answer_prompt(llm, "When?"), max_tokens=4, temperature=0.0)
    evaluated.clear()
    warm = [llm.yes_probability(p) for p in prompts]

    total = [llm.count_tokens(p) for p in prompts]
    assert evaluated[0] <= total[0] - examples  # the examples came back from the cache
    assert evaluated[1] < total[1] - examples  # and the source's opening from the context
    # Evaluated in other batches, quantized matrix products round a little differently.
    assert warm == pytest.approx(cold, abs=0.01)
    assert first == pytest.approx(warm[0], abs=0.01)
    assert warm[0] > 0.5 > warm[1]
