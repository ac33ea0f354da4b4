"""Turn a follow-up question plus conversation history into a standalone retrieval query."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.answering.llm import LLM, ChatMessage, complete
from rag.answering.prompting import neutralize_control_tokens
from rag.answering.words import content_words

_FOLLOW_UP_HINTS = re.compile(
    r"\b(it|its|they|them|their|this|that|these|those|he|she|him|her|there|then|also|"
    r"what about|how about|and)\b",
    re.IGNORECASE,
)
CONDENSE_INSTRUCTION = (
    "Rewrite the last user question so that it can be understood without the conversation. "
    "Reply with the rewritten question only."
)


def leans_on_history(question: str) -> bool:
    """A follow-up that needs the conversation: very short, or pointing back ("it", "and")."""
    return len(content_words(question)) <= 2 or bool(_FOLLOW_UP_HINTS.search(question))


def rule_based_condense(question: str, history: Sequence[ChatMessage]) -> str:
    """Append the previous user question's content words when the follow-up leans on it."""
    previous = next((m.content for m in reversed(history) if m.role == "user"), None)
    if previous is None or not leans_on_history(question):
        return question
    extra = [w for w in content_words(previous) if w not in content_words(question)]
    return f"{question.strip()} ({' '.join(extra)})" if extra else question


def llm_condense(
    question: str, history: Sequence[ChatMessage], llm: LLM, *, max_tokens: int = 48
) -> str | None:
    """Ask the LLM; None when its rewrite looks unusable (empty, rambling, off-topic)."""
    transcript = "\n".join(f"{m.role}: {m.content}" for m in history[-6:])
    request = f"Conversation:\n{transcript}\n\nLast question: {question}"
    messages = [
        ChatMessage("system", CONDENSE_INSTRUCTION),
        ChatMessage("user", neutralize_control_tokens(request)),
    ]
    prompt = llm.render(messages)
    if llm.count_tokens(prompt) + max_tokens > llm.n_ctx:
        return None
    rewritten = complete(llm, prompt, max_tokens=max_tokens, temperature=0.0).strip()
    rewritten = rewritten.splitlines()[0].strip() if rewritten else ""
    if not rewritten or len(rewritten) > 4 * max(len(question), 40):
        return None
    # Small models often answer instead of rewriting: keep only something shaped like a
    # question, without citation markers copied from the history.
    if not rewritten.endswith("?") or re.search(r"\[\d+\]", rewritten):
        return None
    known = set(content_words(question)) | {w for m in history for w in content_words(m.content)}
    if not set(content_words(rewritten)) & known:
        return None
    return rewritten


def condense_question(
    question: str, history: Sequence[ChatMessage], llm: LLM | None, *, use_llm: bool = True
) -> str:
    # A question that stands on its own costs no LLM call (a rewrite took ~1-2 s here).
    if not history or not leans_on_history(question):
        return question
    if use_llm and llm is not None:
        rewritten = llm_condense(question, history, llm)
        if rewritten:
            return rewritten
    return rule_based_condense(question, history)
