"""Admission control in front of the generators (the llama.cpp context, or each server of
an LLM pool).

One generation runs at a time per generator; up to ``max_waiting`` more may wait per
generator. An interactive request beyond that is refused at once with ``BusyError`` (HTTP
429 + Retry-After) instead of piling up threads. Batch answers wait for a free slot
instead, and only start when no interactive request is running or waiting, so a batch
never delays a chat user by more than the one answer it is generating.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rag.errors import BusyError


class Priority(enum.Enum):
    INTERACTIVE = "interactive"
    BATCH = "batch"


class LLMGate:
    def __init__(self, *, max_waiting: int, retry_after: int, generators: int = 1) -> None:
        self.capacity = generators * (1 + max_waiting)
        self.retry_after = retry_after
        # Bounded: a second release of one slot raises instead of silently adding capacity.
        self._slots = threading.BoundedSemaphore(self.capacity)
        self._turns = threading.Condition()
        self._interactive = 0
        self._held = 0

    @property
    def depth(self) -> int:
        """Requests running or waiting for the LLM."""
        return self._held

    @contextmanager
    def slot(self, priority: Priority = Priority.INTERACTIVE) -> Iterator[None]:
        """Hold one place in front of the LLM for the duration of the block."""
        interactive = priority is Priority.INTERACTIVE
        if not self._slots.acquire(blocking=not interactive):
            raise BusyError(
                f"the language model is busy ({self._held} requests running or queued); "
                "retry later",
                retry_after=self.retry_after,
            )
        with self._turns:
            self._held += 1
            if interactive:
                self._interactive += 1
            else:
                self._turns.wait_for(lambda: self._interactive == 0)
        try:
            yield
        finally:
            with self._turns:
                self._held -= 1
                if interactive:
                    self._interactive -= 1
                self._turns.notify_all()
            self._slots.release()
