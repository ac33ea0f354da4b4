"""`rag serve` as a real process on the ONNX backend: what it loads and what it never loads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from api.local_server import free_port, wait_until_ready
from rag.settings import Settings

RAG = str(Path(sys.executable).with_name("rag"))


def mapped_libraries(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def test_serve_answers_on_onnx_without_ever_loading_torch(sample_store: Settings) -> None:
    port = free_port()
    assert sample_store.embedding.backend.startswith("onnx")
    environment = {
        **os.environ,
        "RAG_DATA_DIR": str(sample_store.data_dir),
        "RAG_EMBEDDING__BACKEND": sample_store.embedding.backend,  # the store's (an ONNX one)
        "RAG_LLM__PRESET": "tiny",  # plumbing: which libraries load, not answer quality
    }
    server = subprocess.Popen(
        [RAG, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_ready(base_url, server)  # raises if it exits or never becomes ready
        with httpx.Client(base_url=base_url, timeout=120) as client:
            found = client.post("/v1/search", json={"query": "Saturday opening hours", "k": 1})
            assert found.status_code == 200 and found.json()["hits"]
            asked = client.post("/v1/ask", json={"question": "When is it open on Saturday?"})
            assert asked.status_code == 200
        libraries = mapped_libraries(server.pid)
        assert "onnxruntime" in libraries and "llama" in libraries
        assert "libtorch" not in libraries
    finally:
        server.terminate()
        server.wait(30)
