"""The LLM gate: capacity, release exactly once, batch behind interactive."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest

from api.services.gate import LLMGate, Priority
from rag.errors import BusyError


def test_interactive_requests_beyond_capacity_are_refused_with_retry_after() -> None:
    gate = LLMGate(max_waiting=1, retry_after=7)
    with gate.slot(), gate.slot():
        assert gate.depth == 2
        with pytest.raises(BusyError) as refused, gate.slot():
            pass
        assert refused.value.retry_after == 7
    assert gate.depth == 0
    with gate.slot():  # capacity came back, and only as much as was taken
        pass


def test_a_failing_block_still_gives_its_slot_back_once() -> None:
    gate = LLMGate(max_waiting=0, retry_after=1)
    with contextlib.suppress(RuntimeError), gate.slot():
        raise RuntimeError("generation failed")
    assert gate.depth == 0
    with gate.slot(), pytest.raises(BusyError), gate.slot():
        pass


def test_batch_waits_until_no_interactive_request_runs_or_waits() -> None:
    gate = LLMGate(max_waiting=2, retry_after=1)
    order: list[str] = []
    interactive = gate.slot()
    interactive.__enter__()

    def batch() -> None:
        with gate.slot(Priority.BATCH):
            order.append("batch")

    worker = threading.Thread(target=batch)
    worker.start()
    time.sleep(0.2)
    assert order == []  # still behind the interactive request
    order.append("interactive")
    interactive.__exit__(None, None, None)
    worker.join(timeout=5)
    assert order == ["interactive", "batch"]
    assert gate.depth == 0
