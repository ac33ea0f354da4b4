"""The ordered background worker that overlaps ingestion's loading with embedding."""

from __future__ import annotations

import threading
import time

import pytest

from ingest.background import OrderedWorker


def test_pieces_run_in_order_on_another_thread() -> None:
    done: list[tuple[int, str]] = []
    with OrderedWorker[int](lambda n: done.append((n, threading.current_thread().name))) as w:
        for n in range(20):
            w.submit(n)
    assert [n for n, _ in done] == list(range(20))
    assert {name for _, name in done} == {"worker"}


def test_the_caller_prepares_the_next_piece_while_one_runs() -> None:
    started = threading.Event()
    release = threading.Event()

    def work(_piece: int) -> None:
        started.set()
        release.wait(5)

    worker = OrderedWorker[int](work, depth=1)
    worker.submit(1)
    assert started.wait(5)
    worker.submit(2)  # queued while 1 runs: the caller is not blocked
    release.set()
    worker.close()


def test_the_first_error_reaches_the_caller_and_later_pieces_are_skipped() -> None:
    ran: list[int] = []

    def work(piece: int) -> None:
        if piece == 1:
            raise ValueError("disk full")
        ran.append(piece)

    worker = OrderedWorker[int](work)
    worker.submit(0)
    worker.submit(1)
    with pytest.raises(ValueError, match="disk full"):
        for piece in range(2, 50):
            worker.submit(piece)
            time.sleep(0.01)
        worker.close()
    assert ran == [0]  # nothing after the failed piece was written


def test_an_error_in_the_caller_stops_the_worker_without_hanging() -> None:
    ran: list[int] = []
    worker = OrderedWorker[int](ran.append)
    with pytest.raises(RuntimeError, match="loader bug"), worker:
        worker.submit(7)
        raise RuntimeError("loader bug")
    assert ran == [7]
    assert not worker._thread.is_alive()
