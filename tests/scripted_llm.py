"""A model that says what a test scripts, for tests about what the pipeline does with an
answer (its shape), not about what a real model answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from rag.answering.llm import ChatMessage, GenerationStats
from rag.answering.verification import VERIFY_REQUEST


class ScriptedLLM:
    n_ctx = 4096

    def __init__(self, pieces: Sequence[str], yes: float | Callable[[str], float] = 0.9) -> None:
        self.pieces = list(pieces)
        self.yes = yes
        self.calls = 0
        self.produced = 0
        self.prompts: list[str] = []

    def render(self, messages: Sequence[ChatMessage]) -> str:
        return "\n".join(f"{m.role}: {m.content}" for m in messages)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def yes_probability(self, prompt: str) -> float:
        assert VERIFY_REQUEST in prompt
        return self.yes(prompt) if callable(self.yes) else self.yes

    def cache_prefix(self, prefix: str) -> int:
        return len(prefix.split())

    def stream(  # the LLM protocol's signature; the prompt does not change the script
        self, prompt: str, *, max_tokens: int, should_stop: Callable[[], bool] | None = None,
        **_options: object,
    ) -> Iterator[str | GenerationStats]:  # fmt: skip
        self.calls += 1
        self.prompts.append(prompt)
        for piece in self.pieces[:max_tokens]:
            self.produced += 1
            yield piece
            if should_stop is not None and should_stop():
                break
        yield GenerationStats(10, self.produced, 1.0, 1.0)
