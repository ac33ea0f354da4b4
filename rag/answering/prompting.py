"""Prompt building as pure functions: numbered sources packed into the LLM's token budget.

Budget = n_ctx - answer tokens - (system + question + kept history + template overhead).
Whole chunks go in best first; a chunk that does not fit is skipped (a shorter one after it
may still fit). They are shown in the opposite order, the best last, next to the question.
The rendered prompt is measured again at the end, so the template's own tokens can never
push it past n_ctx.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.answering.llm import ChatMessage
from rag.errors import InvalidInputError

# Measured on the sample data and the QA mix: asking for the bare answer keeps SQuAD-style
# F1 high, and leaving out "say when the sources lack it" stopped the 1.5B model from
# declining answerable questions; unanswerable ones are refused by the checks after it.
SYSTEM_PROMPT = (
    "Answer the question from the numbered sources. Reply with the answer only - a few words "
    "for a fact, up to three short sentences for how or why - and cite its source number in "
    "square brackets, like [2]."
)


# One worked exchange before the real question shows the wanted shape (a bare span and its
# source number) better than any instruction did; its facts are in no knowledge base.
EXAMPLE_TURNS = (
    ChatMessage(
        "user",
        "Sources:\n[1] Ferry timetable\nThe harbour ferry leaves every 20 minutes between "
        "06:00 and 22:00. A single ticket costs 3 euros.\n\nQuestion: How often does the "
        "ferry leave?",
    ),
    ChatMessage("assistant", "every 20 minutes [1]"),
)

# A question asking for steps gets a worked procedure instead: after the span example the
# 1.5B model listed the repair guide's steps as bare words ("remove wheel, find puncture,
# patch or replace [1]"); after this one it writes sentences and reaches the last step (the
# inflation pressure). No SQuAD question of the report or calibration sets asks this way.
PROCEDURE_EXAMPLE_TURNS = (
    ChatMessage(
        "user",
        "Sources:\n[1] Kettle care - Descaling\nFill the kettle halfway with equal parts "
        "water and white vinegar. Bring it to the boil and let it stand for an hour. Pour it "
        "out, then boil fresh water twice and throw that away too.\n\nQuestion: How do I "
        "descale the kettle?",
    ),
    ChatMessage(
        "assistant",
        "Fill it halfway with equal parts water and white vinegar, boil it and let it stand "
        "for an hour [1]. Pour it out, then boil fresh water twice and discard it [1].",
    ),
)

_ASKS_FOR_STEPS = re.compile(
    r"^\s*(how\s+(do|can|should|could|would|does)\s+(i|we|you|one|someone)\b|how\s+to\b"
    r"|what\s+(are\s+)?(the\s+)?steps\b|what\s+should\s+(i|we|you)\s+do\b"
    r"|(explain|describe)\s+how\b|.*\bstep[\s-]+by[\s-]+step\b)",
    re.IGNORECASE,
)


def example_turns(question: str) -> tuple[ChatMessage, ...]:
    """The worked exchange shown before ``question``: a procedure for "how do I ...", else a
    bare fact."""
    return PROCEDURE_EXAMPLE_TURNS if _ASKS_FOR_STEPS.search(question) else EXAMPLE_TURNS


@dataclass(frozen=True, slots=True)
class SourcePassage:
    """A retrieved chunk as the packer sees it."""

    chunk_id: int
    title: str
    section: str | None
    page: int | None
    text: str


@dataclass(frozen=True, slots=True)
class NumberedSource:
    number: int
    passage: SourcePassage


@dataclass(frozen=True, slots=True)
class PromptPlan:
    messages: tuple[ChatMessage, ...]
    prompt: str
    prompt_tokens: int
    sources: tuple[NumberedSource, ...]
    history_turns_kept: int


def ranked_indices(count: int) -> range:
    """The 0-based indices of ``count`` numbered sources from the best-ranked to the worst:
    ``plan_prompt`` numbers the best passage last ([2] of two), next to the question."""
    return range(count - 1, -1, -1)


_CONTROL_TOKEN = re.compile(r"<\|([^|<>]{0,40})\|>")


def neutralize_control_tokens(text: str) -> str:
    """Break chat-template markers such as ``<|im_start|>`` in untrusted text.

    Sources and questions are tokenized with special tokens enabled (the template needs
    them), so a document containing ``<|im_start|>system`` could otherwise open a real
    system turn. The marker stays readable, but no longer matches the special token.
    """
    return _CONTROL_TOKEN.sub(lambda m: f"<\u200b|{m.group(1)}|\u200b>", text)


def format_source(number: int, passage: SourcePassage) -> str:
    where = [passage.title] if passage.title else []
    if passage.section and passage.section != passage.title:
        where.append(passage.section)
    if passage.page is not None:
        where.append(f"page {passage.page}")
    header = f"[{number}] " + " - ".join(where) if where else f"[{number}]"
    return neutralize_control_tokens(f"{header}\n{passage.text.strip()}")


def user_message(question: str, sources: Sequence[NumberedSource]) -> str:
    blocks = "\n\n".join(format_source(s.number, s.passage) for s in sources)
    return f"Sources:\n{blocks}\n\nQuestion: {neutralize_control_tokens(question.strip())}"


def trim_history(
    history: Sequence[ChatMessage], *, budget: int, count_tokens: Callable[[str], int]
) -> list[ChatMessage]:
    """The most recent turns whose contents fit in ``budget`` tokens (oldest dropped first)."""
    kept: list[ChatMessage] = []
    used = 0
    for message in reversed(history):
        cost = count_tokens(message.content) + 8  # role markers and separators
        if used + cost > budget:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    # A kept history never starts with a dangling assistant reply.
    while kept and kept[0].role == "assistant":
        kept.pop(0)
    return kept


def shared_start(
    render: Callable[[Sequence[ChatMessage]], str], opening: Sequence[ChatMessage]
) -> str:
    """The rendered start of every prompt that begins with ``opening`` and continues with a
    user turn: the opening and the start of that turn, up to its content."""
    marker = "\ue000"  # a private-use character: never produced by a chat template
    rendered = render([*opening, ChatMessage("user", marker)])
    return rendered[: rendered.index(marker)]


def instructions_prefix(
    render: Callable[[Sequence[ChatMessage]], str],
    system_prompt: str = SYSTEM_PROMPT,
    examples: Sequence[ChatMessage] = EXAMPLE_TURNS,
) -> str:
    """The rendered start that answer prompts share: the instructions, the worked example
    and the opening of the next user turn. The LLM evaluates it once and keeps it."""
    return shared_start(render, [ChatMessage("system", system_prompt), *examples])


def plan_prompt(
    *,
    question: str,
    passages: Sequence[SourcePassage],
    history: Sequence[ChatMessage],
    n_ctx: int,
    answer_tokens: int,
    count_tokens: Callable[[str], int],
    render: Callable[[Sequence[ChatMessage]], str],
    history_share: float = 0.25,
    system_prompt: str = SYSTEM_PROMPT,
) -> PromptPlan:
    """Pack sources and history into n_ctx - answer_tokens; raise if the question alone
    does not fit."""
    limit = n_ctx - answer_tokens
    history = [ChatMessage(m.role, neutralize_control_tokens(m.content)) for m in history]
    system = ChatMessage("system", system_prompt)
    preamble = (system, *example_turns(question))
    bare = [*preamble, ChatMessage("user", user_message(question, []))]
    fixed = count_tokens(render(bare))
    if fixed > limit:
        raise InvalidInputError(
            f"the question needs {fixed} tokens with the instructions; the model allows "
            f"{limit} before the answer"
        )
    kept_history = trim_history(
        history,
        budget=min(int(limit * history_share), limit - fixed),
        count_tokens=count_tokens,
    )
    history_tokens = count_tokens(render([*preamble, *kept_history])) - count_tokens(
        render(list(preamble))
    )
    remaining = limit - fixed - max(0, history_tokens)

    chosen: list[SourcePassage] = []
    for passage in passages:
        cost = count_tokens(format_source(len(chosen) + 1, passage)) + 2  # blank line
        if cost <= remaining:
            chosen.append(passage)
            remaining -= cost

    while True:
        # The best passage goes last, next to the question ([2] of two). Shown first, the
        # 1.5B model still took its answer from the passage after it, the wrong one in 8 of
        # 22 such answers on the QA mix. Best last raised the answers holding the gold span
        # from 0.62 to 0.67 (QA mix) and 0.65 to 0.66 (SQuAD 2.0), the citations of the gold
        # passage from 0.74 to 0.79 and 0.79 to 0.81, and lowered false refusals (README).
        sources = tuple(NumberedSource(i + 1, p) for i, p in enumerate(reversed(chosen)))
        messages = (*preamble, *kept_history, ChatMessage("user", user_message(question, sources)))
        prompt = render(messages)
        tokens = count_tokens(prompt)
        if tokens <= limit:
            return PromptPlan(messages, prompt, tokens, sources, len(kept_history))
        # Tokenization across boundaries can differ slightly from the sum of parts.
        if chosen:
            chosen.pop()
        elif kept_history:
            kept_history.pop(0)
        else:
            raise InvalidInputError("the question does not fit in the model's context")
