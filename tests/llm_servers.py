"""Real llama.cpp server processes (``python -m llama_cpp.server``) on loopback ports, for the
LLM pool tests and ``bench/llm_pool.py``."""

from __future__ import annotations

import os
import signal
import subprocess
from types import TracebackType

from api.local_server import free_port, wait_until_ready
from rag.answering.llm_servers import server_command
from rag.bundled import use_offline_runtime
from rag.settings import LLMSettings


class LlamaServerProcess:
    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> LlamaServerProcess:
        use_offline_runtime()
        command = server_command(self.settings, host="127.0.0.1", port=self.port)
        self.process = subprocess.Popen(
            command, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until_ready(self.url, self.process, path="/v1/models", timeout=timeout)
        return self

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, open connections simply break."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def __enter__(self) -> LlamaServerProcess:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
