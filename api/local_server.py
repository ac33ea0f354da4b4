"""Serve an app with uvicorn on a free loopback port in a background thread.

For the benchmarks and the tests that need a real socket (streaming disconnects, parallel
clients, schema fuzzing); `rag serve` runs uvicorn in the foreground instead.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_in_background(
    app: FastAPI, *, host: str = "127.0.0.1", log_level: str = "warning", timeout: float = 120
) -> Iterator[str]:
    """Yield the base URL once the app (lifespan included) is up; stop it on exit."""
    port = free_port(host)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server on {host}:{port} did not start")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
