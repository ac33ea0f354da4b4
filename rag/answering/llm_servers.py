"""Generation on a pool of OpenAI-compatible llama.cpp servers (``python -m llama_cpp.server``
or ``llama-server``), instead of or beside the in-process model.

Prompts are built here exactly as for the in-process model: the same chat template and
tokenizer, read from the same GGUF without its weights (``PromptFormat.of_file``), so packing,
token counting, citations and refusals do not depend on where the tokens are generated.

Each call goes to the member with the fewest calls in flight. A member that cannot be reached
before its first token is marked down and the call moves to the next one; a member that fails
mid-stream is marked down and the call fails with ``LLMServerError`` (the client gets an
error event, never a hang). A member marked down is tried again after ``server_retry_s``.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import httpx

from rag.answering.llm import (
    LLM,
    ChatMessage,
    GenerationStats,
    LlamaCppLLM,
    PromptFormat,
    check_fits,
    completion_options,
    model_file,
    timed_stats,
)
from rag.bundled import usable_cores
from rag.errors import LLMServerError
from rag.settings import LLMSettings

# Bisection of the yes-minus-no logit difference: 12 halvings of [-16, 16] leave 0.008 logit
# units, well under the spacing of any calibrated threshold.
_LOGIT_RANGE = 16.0
_BISECTIONS = 12
# Added to the yes and no tokens so that one of them is always the greedy choice.
_LIFT = 100.0


class LlamaServerLLM:
    """One llama.cpp server over HTTP, speaking the OpenAI completions API."""

    def __init__(self, url: str, settings: LLMSettings, prompt_format: PromptFormat) -> None:
        self.url = url.rstrip("/")
        self.name = self.url
        self.settings = settings
        self.n_ctx = settings.n_ctx
        self.format = prompt_format
        self.calls = 0
        timeout = httpx.Timeout(settings.server_timeout_s, connect=5.0)
        self._client = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def render(self, messages: Sequence[ChatMessage]) -> str:
        return self.format.render(messages)

    def count_tokens(self, text: str) -> int:
        return self.format.count_tokens(text)

    def cache_prefix(self, prefix: str) -> int:  # noqa: ARG002 (the LLM interface)
        return 0  # a llama.cpp server reuses the prefix of its last prompt by itself

    def probe(self) -> str | None:
        """None when the server answers its model list; else why not."""
        try:
            self._client.get("/v1/models", timeout=3.0).raise_for_status()
        except httpx.HTTPError as exc:
            return _describe(exc)
        return None

    def _greedy_token(self, prompt: str, bias: dict[str, float]) -> str:
        response = self._client.post(
            "/v1/completions",
            json={
                "prompt": prompt, "max_tokens": 1, "temperature": 0.0, "repeat_penalty": 1.0,
                "logit_bias": bias, "logit_bias_type": "input_ids",
            },
        )  # fmt: skip
        response.raise_for_status()
        return str(response.json()["choices"][0]["text"])

    def yes_probability(self, prompt: str) -> float:
        """P("yes") against P("no") as the next token, as the in-process model computes it,
        without per-token log-probabilities (a server offers them only when it keeps the
        logits of every position). With the yes and no tokens lifted above all others, the
        greedy token is a yes exactly when logit(yes) - logit(no) exceeds the extra bias on
        the no tokens: bisect on that bias. The prompt is evaluated once; the server reuses
        it for the repeats, which cost one token each."""
        self.calls += 1
        yes_texts = {self.format.llama.detokenize([t]).decode("utf-8", "ignore").strip().lower()
                     for t in self.format.yes_tokens}  # fmt: skip
        low, high = -_LOGIT_RANGE, _LOGIT_RANGE
        for _ in range(_BISECTIONS):
            middle = (low + high) / 2
            bias = {str(t): _LIFT for t in self.format.yes_tokens}
            bias.update({str(t): _LIFT + middle for t in self.format.no_tokens})
            said_yes = self._greedy_token(prompt, bias).strip().lower() in yes_texts
            low, high = (middle, high) if said_yes else (low, middle)
        difference = (low + high) / 2
        return 1.0 / (1.0 + math.exp(-difference))

    def stream(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Iterator[str | GenerationStats]:
        prompt_tokens = self.count_tokens(prompt)
        check_fits(prompt_tokens, max_tokens, self.n_ctx)
        self.calls += 1
        body = {
            "prompt": prompt, "max_tokens": max_tokens, "stream": True,
            **completion_options(self.settings, self.format, temperature),
        }  # fmt: skip
        started = time.perf_counter()
        first: float | None = None
        completion_tokens = 0
        finished = False
        with self._client.stream("POST", "/v1/completions", json=body) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue  # blank separators and ": ping" comments
                data = line.removeprefix("data:").strip()
                if data == "[DONE]":
                    finished = True
                    break
                text = _piece_text(data)
                completion_tokens += 1
                if first is None:
                    first = time.perf_counter()
                if text:
                    yield text
                if should_stop is not None and should_stop():
                    finished = True
                    break  # leaving the block closes the connection: the server stops
        if not finished:  # the connection closed cleanly, but before the end of the answer
            raise httpx.RemoteProtocolError("the stream ended before its [DONE] event")
        ended = time.perf_counter()
        yield timed_stats(
            prompt_tokens, completion_tokens, started=started, first=first, ended=ended
        )


@dataclass(slots=True)
class PoolMember:
    llm: LlamaCppLLM | LlamaServerLLM
    in_flight: int = 0
    down_until: float = 0.0
    last_error: str | None = None

    @property
    def name(self) -> str:
        return "in-process" if isinstance(self.llm, LlamaCppLLM) else self.llm.name


@dataclass(frozen=True, slots=True)
class MemberStatus:
    name: str
    up: bool
    in_flight: int
    error: str | None


class LLMPool:
    """Several generators behind the one ``LLM`` interface the answerer uses."""

    def __init__(
        self, members: Sequence[LlamaCppLLM | LlamaServerLLM], settings: LLMSettings
    ) -> None:
        if not members:
            raise ValueError("an LLM pool needs at least one member")
        self.members = [PoolMember(m) for m in members]
        self.settings = settings
        self.n_ctx = settings.n_ctx
        self.format = members[0].format
        self.calls = 0
        self._lock = threading.Lock()
        self._turn = itertools.count()

    @property
    def size(self) -> int:
        return len(self.members)

    def render(self, messages: Sequence[ChatMessage]) -> str:
        return self.format.render(messages)

    def count_tokens(self, text: str) -> int:
        return self.format.count_tokens(text)

    def cache_prefix(self, prefix: str) -> int:
        return max(m.llm.cache_prefix(prefix) for m in self.members)

    # --- routing ----------------------------------------------------------------------------

    def _take_best(self, tried: set[int]) -> PoolMember | None:
        """The best member not tried yet, counted in flight at once (ranking and taking
        under one lock, so two requests never both pick the same idle member): up before
        down, then fewest calls in flight; ties rotate so an idle pool spreads its calls."""
        with self._lock:
            now = time.monotonic()
            turn = next(self._turn)
            candidates = [(i, m) for i, m in enumerate(self.members) if i not in tried]
            if not candidates:
                return None
            index, member = min(
                candidates,
                key=lambda im: (
                    im[1].down_until > now,
                    im[1].in_flight,
                    (im[0] - turn) % len(self.members),
                ),
            )
            tried.add(index)
            member.in_flight += 1
            return member

    def _give_back(self, member: PoolMember) -> None:
        with self._lock:
            member.in_flight -= 1

    def _mark_down(self, member: PoolMember, error: str) -> None:
        with self._lock:
            member.down_until = time.monotonic() + self.settings.server_retry_s
            member.last_error = error

    def _mark_up(self, member: PoolMember) -> None:
        if member.down_until:
            with self._lock:
                member.down_until, member.last_error = 0.0, None

    def _unavailable(self, failures: list[str]) -> LLMServerError:
        return LLMServerError("no LLM server could take the request: " + "; ".join(failures))

    # --- the LLM interface ------------------------------------------------------------------

    def yes_probability(self, prompt: str) -> float:
        self.calls += 1
        failures: list[str] = []
        tried: set[int] = set()
        while (member := self._take_best(tried)) is not None:
            try:
                value = member.llm.yes_probability(prompt)
            except httpx.HTTPError as exc:
                failures.append(f"{member.name}: {_describe(exc)}")
                self._mark_down(member, _describe(exc))
                continue
            finally:
                self._give_back(member)
            self._mark_up(member)
            return value
        raise self._unavailable(failures)

    def stream(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Iterator[str | GenerationStats]:
        """Stream from the least busy member. Until its first piece arrives a failing member
        is skipped for the next; after that its failure ends the stream with an error."""
        self.calls += 1
        failures: list[str] = []
        tried: set[int] = set()
        while (member := self._take_best(tried)) is not None:
            started = False
            try:
                for piece in member.llm.stream(
                    prompt, max_tokens=max_tokens, temperature=temperature,
                    should_stop=should_stop,
                ):  # fmt: skip
                    started = True
                    yield piece
            except httpx.HTTPError as exc:
                self._mark_down(member, _describe(exc))
                if started:
                    raise LLMServerError(
                        f"LLM server {member.name} failed mid-answer ({_describe(exc)}); "
                        "it is marked down, retry the question"
                    ) from exc
                failures.append(f"{member.name}: {_describe(exc)}")
                continue
            finally:
                self._give_back(member)
            self._mark_up(member)
            return
        raise self._unavailable(failures)

    # --- health -----------------------------------------------------------------------------

    def status(self) -> list[MemberStatus]:
        """Each member as a probe finds it now (servers are asked for their model list)."""
        report = []
        for member in self.members:
            error = member.llm.probe() if isinstance(member.llm, LlamaServerLLM) else None
            if error is None:
                self._mark_up(member)
            else:
                self._mark_down(member, error)
            report.append(MemberStatus(member.name, error is None, member.in_flight, error))
        return report

    def close(self) -> None:
        for member in self.members:
            if isinstance(member.llm, LlamaServerLLM):
                member.llm.close()


def _piece_text(data: str) -> str:
    try:
        return str(json.loads(data)["choices"][0]["text"])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise httpx.RemoteProtocolError(f"unreadable stream event: {data[:80]!r}") from exc


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def server_command(settings: LLMSettings, *, host: str, port: int) -> list[str]:
    """The command that starts one pool member for these settings: llama-cpp-python's
    OpenAI-compatible server on the same GGUF, context size and sampling seed as the
    in-process model, so its answers are the in-process answers. ``--interrupt_requests
    False``: by default that server cuts the stream it is generating short whenever another
    request arrives (an answer would end early, empty or mid-sentence); a pool queues
    instead."""
    return [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model_file(settings)), "--host", host, "--port", str(port),
        "--n_ctx", str(settings.n_ctx), "--n_batch", str(settings.n_batch),
        "--n_threads", str(settings.n_threads),
        "--n_threads_batch", str(settings.n_threads_batch or usable_cores()),
        "--seed", str(settings.seed), "--interrupt_requests", "False",
    ]  # fmt: skip


def load_generator(settings: LLMSettings) -> LLM:
    """The in-process model, or a pool of the configured servers (with the in-process
    model beside them when ``keep_local``)."""
    if not settings.servers:
        return LlamaCppLLM(settings)
    local = LlamaCppLLM(settings) if settings.keep_local else None
    prompt_format = local.format if local else PromptFormat.of_file(model_file(settings))
    members: list[LlamaCppLLM | LlamaServerLLM] = [local] if local else []
    members += [LlamaServerLLM(url, settings, prompt_format) for url in settings.servers]
    return LLMPool(members, settings)
