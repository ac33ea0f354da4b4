"""The raw baseline of the generation benches: plain llama-cpp-python, timed the same way."""

from __future__ import annotations

import time
from typing import Any


def timed_raw(llama: Any, prompt: str, max_tokens: int, *, reset: bool) -> dict[str, float]:
    """One streamed completion through a plain ``llama_cpp.Llama``: time to first token,
    generated tokens/s, prompt tokens/s over the tokens it really evaluated. ``reset``
    clears the context first; otherwise llama.cpp reuses whatever prefix it still holds."""
    if reset:
        llama.reset()
    prompt_tokens = len(llama.tokenize(prompt.encode("utf-8"), special=True))
    reused = 0 if reset else _shared_prefix(llama, prompt)
    started = time.perf_counter()
    first = None
    count = 0
    for _ in llama.create_completion(prompt, max_tokens=max_tokens, temperature=0, stream=True):
        first = first or time.perf_counter()
        count += 1
    ended = time.perf_counter()
    return _row(started, first or ended, ended, count, prompt_tokens - reused)


def _shared_prefix(llama: Any, prompt: str) -> int:
    tokens = llama.tokenize(prompt.encode("utf-8"), special=True)
    shared = 0
    for held, wanted in zip(llama.input_ids[: llama.n_tokens], tokens, strict=False):
        if held != wanted:
            break
        shared += 1
    return shared


def _row(started: float, first: float, ended: float, count: int, evaluated: int) -> dict:
    ttft = first - started
    return {
        "ttft_s": ttft,
        "tokens_per_s": (count - 1) / (ended - first) if count > 1 and ended > first else 0.0,
        "prompt_tokens_per_s": evaluated / ttft if ttft > 0 else 0.0,
        "evaluated_prompt_tokens": evaluated,
        "generated_tokens": count,
    }
