"""Serve an app with uvicorn on a free loopback port in a background thread.

For the benchmarks and the tests that need a real socket (streaming disconnects, parallel
clients, schema fuzzing); `rag serve` runs uvicorn in the foreground instead.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
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


def wait_until_ready(
    base_url: str,
    process: subprocess.Popen[bytes],
    *,
    path: str = "/readyz",
    timeout: float = 120,
) -> float:
    """Poll ``path`` of a `rag serve` process until it answers 200; the seconds waited.
    Raises when the process exits or ``timeout`` passes first."""
    started = time.monotonic()
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"rag serve exited with {process.returncode} before it was ready")
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"rag serve at {base_url} was not ready within {timeout} s")
        try:
            with urllib.request.urlopen(base_url + path, timeout=5) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet, or 503 while loading
        time.sleep(0.05)
