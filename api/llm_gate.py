"""Admission control in front of the single llama.cpp context.

One generation runs at a time (the LLM's own lock); up to ``max_waiting`` more may wait.
Anything beyond that is refused at once with ``BusyError`` (HTTP 429 + Retry-After) instead
of piling up threads and timing out.
"""

from __future__ import annotations

import threading

from rag.errors import BusyError


class LLMGate:
    def __init__(self, *, max_waiting: int, retry_after: int) -> None:
        self.capacity = 1 + max_waiting
        self.retry_after = retry_after
        self._admitted = 0
        self._lock = threading.Lock()

    @property
    def depth(self) -> int:
        """Requests running or waiting for the LLM."""
        return self._admitted

    def admit(self) -> None:
        with self._lock:
            if self._admitted >= self.capacity:
                raise BusyError(
                    f"the language model is busy ({self._admitted} requests running or "
                    "queued); retry later",
                    retry_after=self.retry_after,
                )
            self._admitted += 1

    def release(self) -> None:
        with self._lock:
            self._admitted = max(0, self._admitted - 1)
