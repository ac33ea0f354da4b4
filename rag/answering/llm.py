"""The LLM behind a narrow interface; llama.cpp in-process by default.

The prompt is rendered with the model's own chat template (from the GGUF metadata) and
counted with the model's own tokenizer, so the packer's token budget is exact.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.bundled import preset_model_path, usable_cores, use_offline_runtime
from rag.errors import ModelUnavailableError
from rag.settings import LLMSettings

# ChatML, used when a GGUF carries no template of its own.
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # system | user | assistant
    content: str


@dataclass(frozen=True, slots=True)
class GenerationStats:
    prompt_tokens: int
    completion_tokens: int
    time_to_first_token_ms: float
    generation_ms: float

    @property
    def tokens_per_second(self) -> float:
        seconds = self.generation_ms / 1000
        return round(self.completion_tokens / seconds, 2) if seconds > 0 else 0.0


def completion_options(
    settings: LLMSettings, prompt_format: PromptFormat, temperature: float | None
) -> dict[str, Any]:
    """The sampling of every answer, in process or on a server: the same options make the
    same answer."""
    return {
        "temperature": settings.temperature if temperature is None else temperature,
        "seed": settings.seed,
        "repeat_penalty": settings.repeat_penalty,
        "stop": prompt_format.stop,
    }


def check_fits(prompt_tokens: int, max_tokens: int, n_ctx: int) -> None:
    if prompt_tokens + max_tokens > n_ctx:
        raise ValueError(
            f"prompt of {prompt_tokens} tokens + {max_tokens} answer tokens exceeds n_ctx {n_ctx}"
        )


def timed_stats(
    prompt_tokens: int, completion_tokens: int, *, started: float, first: float | None,
    ended: float,
) -> GenerationStats:  # fmt: skip
    """Stats of a generation from ``time.perf_counter`` readings (no token: first = end)."""
    first = first or ended
    return GenerationStats(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        time_to_first_token_ms=round((first - started) * 1000, 1),
        generation_ms=round((ended - first) * 1000, 1),
    )


class LLM(Protocol):
    n_ctx: int
    calls: int

    def render(self, messages: Sequence[ChatMessage]) -> str: ...

    def count_tokens(self, text: str) -> int: ...

    def yes_probability(self, prompt: str) -> float: ...

    def cache_prefix(self, prefix: str) -> int: ...

    def stream(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Iterator[str | GenerationStats]: ...


class PromptFormat:
    """A model's chat template, tokenizer and stop strings: what the packer and the
    verification pass need to build and count prompts exactly as the model reads them.
    Built from a loaded model, or from the GGUF's vocabulary alone (``vocab_only``) where
    the weights live in another process (a llama.cpp server)."""

    def __init__(self, llama: Any) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llama = llama
        eos_text = llama.detokenize([llama.token_eos()], special=True).decode("utf-8", "ignore")
        bos_text = llama.detokenize([llama.token_bos()], special=True).decode("utf-8", "ignore")
        template = llama.metadata.get("tokenizer.chat_template") or FALLBACK_CHAT_TEMPLATE
        self._formatter = Jinja2ChatFormatter(
            template, eos_token=eos_text, bos_token=bos_text, add_generation_prompt=True
        )
        self.stop = [s for s in {eos_text, "<|im_end|>"} if s]
        self.yes_tokens = self._first_tokens("yes")
        self.no_tokens = self._first_tokens("no")

    @classmethod
    def of_file(cls, path: Path) -> PromptFormat:
        """The format of a GGUF file, reading its vocabulary only (no weights)."""
        use_offline_runtime()
        from llama_cpp import Llama

        return cls(Llama(model_path=str(path), vocab_only=True, verbose=False))

    def render(self, messages: Sequence[ChatMessage]) -> str:
        payload: Any = [{"role": m.role, "content": m.content} for m in messages]
        response = self._formatter(messages=payload)
        return str(response.prompt)

    def count_tokens(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def prompt_tokens(self, text: str) -> list[int]:
        """Tokens as ``create_completion`` makes them (BOS where the model wants one)."""
        return list(self.llama.tokenize(text.encode("utf-8"), special=True))

    def _first_tokens(self, word: str) -> list[int]:
        """First tokens of the word's usual spellings (" Yes", "yes", ...)."""
        variants = {word, word.capitalize(), " " + word, " " + word.capitalize()}
        return sorted(
            {
                self.llama.tokenize(v.encode("utf-8"), add_bos=False, special=False)[0]
                for v in variants
            }
        )


def model_file(settings: LLMSettings) -> Path:
    """The GGUF the settings name (a path, or a preset assembled on first use)."""
    path = (
        Path(settings.model_path)
        if settings.model_path
        else preset_model_path(settings.preset, cache_dir=settings.cache_dir)
    )
    if not path.is_file():
        raise ModelUnavailableError(f"GGUF model file not found: {path}")
    return path


@dataclass(slots=True)
class CachedPrefix:
    """A prompt start evaluated once, when a prompt first needs it: its tokens and the
    context state after them (None until then)."""

    tokens: list[int]
    state: Any = None  # a ctypes byte buffer from llama_state_get_data
    size: int = 0

    def starts(self, tokens: Sequence[int]) -> bool:
        return len(tokens) >= len(self.tokens) and list(tokens[: len(self.tokens)]) == self.tokens


class LlamaCppLLM:
    """One llama.cpp context, used by one generation at a time (a lock serializes callers)."""

    def __init__(self, settings: LLMSettings) -> None:
        path = model_file(settings)
        use_offline_runtime()
        from llama_cpp import Llama

        self.settings = settings
        self.path = path
        self.llama = Llama(
            model_path=str(path),
            n_ctx=settings.n_ctx,
            n_threads=settings.n_threads,
            n_threads_batch=settings.n_threads_batch or usable_cores(),
            n_batch=settings.n_batch,
            flash_attn=settings.flash_attn,
            seed=settings.seed,
            verbose=False,
        )
        self.n_ctx = settings.n_ctx
        self.name = path.stem
        self.format = PromptFormat(self.llama)
        self._lock = threading.Lock()
        self.calls = 0
        # Cached prefixes (the answer instructions, the verification examples): their tokens
        # and the KV state after them.
        self._prefixes: list[CachedPrefix] = []

    def render(self, messages: Sequence[ChatMessage]) -> str:
        return self.format.render(messages)

    def count_tokens(self, text: str) -> int:
        return self.format.count_tokens(text)

    def _prompt_tokens(self, text: str) -> list[int]:
        return self.format.prompt_tokens(text)

    def cache_prefix(self, prefix: str) -> int:
        """Keep the KV state of ``prefix`` (the instructions every answer prompt starts with,
        the worked examples every verification starts with): the first prompt that starts
        with it evaluates it and saves the state, later ones resume from that state instead
        of evaluating it again, even after other prompts used the context. Nothing is
        evaluated here, so a process that never verifies never pays for the examples."""
        tokens = self._prompt_tokens(prefix)
        if not tokens or len(tokens) >= self.n_ctx // 2:
            return 0
        with self._lock:
            if not any(p.tokens == tokens for p in self._prefixes):
                self._prefixes.append(CachedPrefix(tokens))
        return len(tokens)

    def _resume_prefix(self, prompt: str) -> None:
        self._resume_prefix_of(self._prompt_tokens(prompt))

    def _resume_prefix_of(self, tokens: Sequence[int]) -> None:
        """Put a cached prefix's state back when ``tokens`` start with it and the context
        holds something else (llama.cpp itself reuses whatever prefix is still there); the
        first time, evaluate the prefix alone and save its state."""
        cached = next((p for p in self._prefixes if p.starts(tokens)), None)
        if cached is None:
            return
        size = len(cached.tokens)
        if self.llama.n_tokens >= size and cached.starts(self.llama.input_ids[:size].tolist()):
            return
        import llama_cpp

        if cached.state is None:
            self.llama.reset()
            self.llama.eval(cached.tokens)
            # The context's own state (KV cells of the prefix, a few MB), not Llama.save_state:
            # that one also copies the logits of every prompt row (72 MB for the quality
            # model) and its load_state zeroes the rest of them, 0.3 s per restore here.
            capacity = llama_cpp.llama_state_get_size(self.llama.ctx)
            cached.state = (ctypes.c_uint8 * capacity)()
            cached.size = llama_cpp.llama_state_get_data(self.llama.ctx, cached.state, capacity)
            return
        if llama_cpp.llama_state_set_data(self.llama.ctx, cached.state, cached.size) != cached.size:
            self.llama.reset()  # llama.cpp evaluates the whole prompt instead
            return
        self.llama.input_ids[:size] = cached.tokens
        self.llama.n_tokens = size

    def yes_probability(self, prompt: str) -> float:
        """P("yes") against P("no") as the next token after ``prompt``: one forward pass over
        the part of the prompt the context does not hold yet (a cached prefix, or the
        previous verification's opening, is reused), no sampling, so a threshold on it can be
        calibrated."""
        import llama_cpp

        tokens = self.llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        if len(tokens) >= self.n_ctx:
            raise ValueError(f"verification prompt of {len(tokens)} tokens exceeds n_ctx")
        with self._lock:
            self.calls += 1
            self._resume_prefix_of(tokens)
            # The last token is always evaluated: its logits are the answer.
            held = self.llama.input_ids[: min(self.llama.n_tokens, len(tokens) - 1)]
            same = int(np.argmin(np.append(held == tokens[: len(held)], False)))
            self.llama.n_tokens = same
            self.llama.eval(tokens[same:])
            pointer = llama_cpp.llama_get_logits_ith(self.llama.ctx, -1)
            logits = np.ctypeslib.as_array(pointer, shape=(self.llama.n_vocab(),)).copy()
        yes = max(logits[t] for t in self.format.yes_tokens)
        no = max(logits[t] for t in self.format.no_tokens)
        return float(1.0 / (1.0 + np.exp(no - yes)))

    def stream(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Iterator[str | GenerationStats]:
        """Yield text pieces, then one ``GenerationStats``. ``should_stop`` is polled between
        tokens so a disconnected client ends its generation."""
        prompt_tokens = self.count_tokens(prompt)
        check_fits(prompt_tokens, max_tokens, self.n_ctx)
        with self._lock:
            self.calls += 1
            started = time.perf_counter()
            self._resume_prefix(prompt)
            first: float | None = None
            completion_tokens = 0
            pieces: Any = self.llama.create_completion(
                prompt,
                max_tokens=max_tokens,
                stream=True,
                **completion_options(self.settings, self.format, temperature),
            )
            try:
                for piece in pieces:
                    text = piece["choices"][0]["text"]
                    completion_tokens += 1
                    if first is None:
                        first = time.perf_counter()
                    if text:
                        yield text
                    if should_stop is not None and should_stop():
                        break
            finally:
                pieces.close()
            ended = time.perf_counter()
        yield timed_stats(
            prompt_tokens, completion_tokens, started=started, first=first, ended=ended
        )


def complete(llm: LLM, prompt: str, *, max_tokens: int, temperature: float | None = None) -> str:
    """The whole text of one generation (no streaming, no stats)."""
    pieces = llm.stream(prompt, max_tokens=max_tokens, temperature=temperature)
    return "".join(p for p in pieces if isinstance(p, str))


def load_llm(settings: LLMSettings) -> LlamaCppLLM:
    return LlamaCppLLM(settings)
