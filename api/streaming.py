"""Run a blocking answer generator in the LLM executor and relay its events to asyncio.

The client's disconnect (the response generator being closed) sets a stop flag that the
generation polls between tokens, so an abandoned stream stops using the LLM.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from api.app import AppState

_DONE = object()


async def relay_events(
    state: AppState, produce: Callable[[Callable[[], bool]], Iterator[Any]]
) -> AsyncIterator[Any]:
    """Yield the events of ``produce(should_stop)``; the gate slot is released at the end.

    The caller must already hold a gate admission.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    stop = threading.Event()

    def worker() -> None:
        try:
            for event in produce(stop.is_set):
                loop.call_soon_threadsafe(queue.put_nowait, event)
                if stop.is_set():
                    break
        except Exception as exc:  # delivered to the client as an error event
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            state.gate.release()
            loop.call_soon_threadsafe(queue.put_nowait, _DONE)

    try:
        loop.run_in_executor(state.llm_executor, worker)
    except RuntimeError:
        state.gate.release()
        raise
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()


def sse(event: str | None, data: Any) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, default=str)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n"
