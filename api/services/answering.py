"""The answering service behind `/v1/ask`, `/v1/chat/completions` and batch jobs.

It owns the LLM gate, the executor generations run in, the relay of streamed events to
asyncio, and the answer log. Generations never run on the event loop nor in the threadpool
that serves search and uploads.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Unpack

from api.metrics import Metrics
from api.resources import Resources
from api.services.gate import LLMGate, Priority
from rag.answering.answers import Answer, AnswerEvent, AskOptions, FinalEvent
from rag.answering.grounding import split_sentences
from rag.errors import InvalidInputError
from rag.pii import PiiMode, shared_scanner
from rag.settings import Settings
from rag.storage import answer_log, audit, store
from rag.storage.filters import SearchFilter

_ADMITTED = object()
_DONE = object()


class AnsweringService:
    def __init__(
        self, *, settings: Settings, resources: Resources, gate: LLMGate, metrics: Metrics
    ) -> None:
        self.settings = settings
        self.resources = resources
        self.gate = gate
        self.metrics = metrics
        # One thread per gate slot plus one, so a request over capacity is turned away at
        # once instead of queueing behind the generations that hold every thread.
        self.executor = ThreadPoolExecutor(
            max_workers=gate.capacity + 1, thread_name_prefix="rag-llm"
        )

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    def check_question(self, question: str) -> None:
        limit = self.settings.api.max_question_chars
        if len(question) > limit:
            raise InvalidInputError(f"the question is longer than {limit} characters")
        if not question.strip():
            raise InvalidInputError("the question is empty")

    def record(
        self,
        answer: Answer,
        *,
        endpoint: str,
        search_filter: SearchFilter | None = None,
        key_id: int | None = None,
    ) -> None:
        """The answer in the answer log and the audit log, in one transaction."""
        scope = search_filter.collections if search_filter is not None else ()
        collection = ",".join(sorted(scope))
        ttft = answer.timings.get("time_to_first_token_ms")
        question, standalone, text = answer.question, answer.standalone_question, answer.answer
        if self._redacts_questions(scope):
            # The answer too: its sources are redacted, but it may repeat the question.
            scanner = shared_scanner(
                cache_dir=self.settings.ingest.pii_cache_dir,
                spacy_model=self.settings.ingest.pii_spacy_model,
            )
            question, standalone, text = map(scanner.redact, (question, standalone, text))
        with self.resources.kb.write_session.begin() as session:
            answer_log.log_answer(
                session,
                answer_id=answer.answer_id,
                question=question,
                standalone_question=standalone,
                answer=text,
                retrieved_chunk_ids=answer.retrieved_chunk_ids,
                cited_chunk_ids=[c.chunk_id for c in answer.citations],
                grounded=answer.grounded,
                refused=answer.refused,
                latency_ms=float(answer.timings.get("total_ms", 0.0)),
                endpoint=endpoint,
                collection=collection,
                refusal_reason=answer.refusal_reason,
                support_score=answer.support_score,
                sentences=0 if answer.refused else len(split_sentences(answer.answer)),
                unsupported_sentences=len(answer.unsupported_sentences),
                time_to_first_token_ms=None if ttft is None else float(ttft),
            )
            audit.record(
                session, key_id=key_id, action="answer", collection=collection,
                target=answer.answer_id,
                detail={"endpoint": endpoint, "refused": answer.refused,
                        "cited_chunk_ids": [c.chunk_id for c in answer.citations]},
            )  # fmt: skip
        self.metrics.observe_answer(
            answer.timings, refused=answer.refused, collection=collection,
            refusal_reason=answer.refusal_reason, support_score=answer.support_score,
        )  # fmt: skip

    def _redacts_questions(self, scope: tuple[str, ...]) -> bool:
        """Questions (and answers) asked of a collection ingested with ``--pii redact`` (or
        of every collection, when any of them is) are logged redacted."""
        with self.resources.kb.read_session() as session:
            modes = store.pii_modes(session)
        default = self.settings.ingest.pii
        asked = scope or (*modes, "")  # "" stands for the collections that never chose
        return any(modes.get(name, default) == PiiMode.REDACT for name in asked)

    # --- interactive ----------------------------------------------------------------------

    async def answer(
        self,
        question: str,
        *,
        endpoint: str,
        key_id: int | None = None,
        **options: Unpack[AskOptions],
    ) -> Answer:
        """The whole answer; 429 (``BusyError``) when the gate is full."""
        self.check_question(question)

        def run() -> Answer:
            with self.gate.slot(Priority.INTERACTIVE):
                answer = self.resources.answerer.ask(question, **options)
            self.record(
                answer, endpoint=endpoint, search_filter=options.get("search_filter"),
                key_id=key_id,
            )  # fmt: skip
            return answer

        return await asyncio.get_running_loop().run_in_executor(self.executor, run)

    async def stream(
        self,
        question: str,
        *,
        endpoint: str,
        key_id: int | None = None,
        **options: Unpack[AskOptions],
    ) -> AsyncIterator[AnswerEvent | Exception]:
        """Admit first (a full gate raises ``BusyError`` here, before any byte is sent),
        then return the events. Closing the iterator (a client that went away) stops the
        generation between two tokens; the answer is logged either way. A failure after the
        start comes as an ``Exception`` item, for the caller to send as an error event."""
        self.check_question(question)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()

        def put(item: object) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def worker() -> None:
            try:
                with self.gate.slot(Priority.INTERACTIVE):
                    put(_ADMITTED)
                    for event in self.resources.answerer.stream(
                        question, should_stop=stop.is_set, **options
                    ):
                        if isinstance(event, FinalEvent):
                            self.record(
                                event.answer, endpoint=endpoint,
                                search_filter=options.get("search_filter"), key_id=key_id,
                            )  # fmt: skip
                        put(event)
            except Exception as exc:  # delivered to the caller (or raised before streaming)
                put(exc)
            finally:
                put(_DONE)

        self.executor.submit(worker)
        first = await queue.get()
        if isinstance(first, Exception):
            raise first
        return self._relay(queue, stop)

    @staticmethod
    async def _relay(
        queue: asyncio.Queue[object], stop: threading.Event
    ) -> AsyncIterator[AnswerEvent | Exception]:
        try:
            while (item := await queue.get()) is not _DONE:
                yield item  # type: ignore[misc]
        finally:
            stop.set()

    # --- batch ----------------------------------------------------------------------------

    def answer_for_batch(self, question: str, *, search_filter: SearchFilter,
                         max_tokens: int | None, key_id: int | None = None) -> Answer:  # fmt: skip
        """Blocking; waits behind interactive requests for its turn."""
        with self.gate.slot(Priority.BATCH):
            answer = self.resources.answerer.ask(
                question, search_filter=search_filter, max_tokens=max_tokens
            )
        self.record(answer, endpoint="batch", search_filter=search_filter, key_id=key_id)
        return answer
