"""One background thread that runs submitted work in order, so the caller can prepare the next
piece meanwhile (ingestion: load and chunk the next files while this group embeds and writes).

At most ``depth`` pieces wait; ``submit`` blocks beyond that, which bounds memory. The first
error stops the work and is raised in the caller at its next ``submit`` or at ``close``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")
_STOP = object()


class OrderedWorker(Generic[T]):
    def __init__(self, work: Callable[[T], None], *, depth: int = 1, name: str = "worker") -> None:
        self._work = work
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            piece = self._queue.get()
            if piece is _STOP:
                return
            if self._error is not None:
                continue  # drain without working: the caller will see the error
            try:
                self._work(piece)  # type: ignore[arg-type]
            except BaseException as exc:  # re-raised in the caller's thread
                self._error = exc

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, piece: T) -> None:
        self._raise_error()
        self._queue.put(piece)

    def close(self) -> None:
        """Wait until every submitted piece is done; raise the first error."""
        self._stop()
        self._raise_error()

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def __enter__(self) -> OrderedWorker[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._stop()  # the caller's own error wins; finish what was submitted
