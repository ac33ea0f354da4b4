"""Whole-process cold start and memory, per embedding backend, in one run.

    python bench/cold_start.py [--runs 5] [--questions 100] [--searches 1000]

On the sample data (ingested once per backend into a temporary data dir):
  * `rag search "..."` and `rag ask "..."` as whole processes, repeated: min and median wall
    seconds, and peak RSS; beside the floor of the same work without our code (a Python that
    imports ONNX Runtime, loads the exported encoder and embeds the query) and `python -c pass`;
  * `rag serve`: seconds until /readyz answers 200, RSS idle, after the first answer, after
    ``--questions`` answers (tiny preset, 32 tokens: this measures the server, not the model)
    and before/after ``--searches`` searches.
Prints JSON. Target: `rag search` <= 2 s wall with the ONNX backend.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sample_questions import QUESTIONS, SAMPLE_DATA, SEARCH_QUERIES

from api.local_server import free_port, wait_until_ready

RAG = str(Path(sys.executable).with_name("rag"))
FLOOR_SCRIPT = """
import sys
import numpy as np, onnxruntime as ort
from tokenizers import Tokenizer
from rag.bundled import default_embedding_model_dir
from rag.embedding.onnx_export import exported_model
from rag.settings import EmbeddingSettings
model_dir = default_embedding_model_dir()
path = exported_model(model_dir, EmbeddingSettings().cache_dir, int8=True)
session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
encoding = Tokenizer.from_file(str(model_dir / "tokenizer.json")).encode(sys.argv[1])
ids = np.array([encoding.ids], dtype=np.int64)
session.run(None, {"input_ids": ids, "attention_mask": ids * 0 + 1, "token_type_ids": ids * 0})
"""


def timed_runs(command: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    """Wall seconds (min, median) and the largest peak RSS over ``runs`` runs (GNU time)."""
    walls, peaks = [], []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%M", *command], env=env, check=True, capture_output=True
        )
        walls.append(time.perf_counter() - started)
        peaks.append(int(done.stderr.decode().strip().splitlines()[-1]) / 1024)
    return {
        "min_s": round(min(walls), 3),
        "median_s": round(statistics.median(walls), 3),
        "peak_rss_mb": round(max(peaks), 1),
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def serve_memory(env: dict[str, str], questions: int, searches: int) -> dict[str, Any]:
    port = free_port()
    env = {**env, "RAG_LLM__PRESET": "tiny", "RAG_LLM__MAX_TOKENS": "32"}
    server = subprocess.Popen(
        [RAG, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    result: dict[str, Any] = {}
    try:
        result["time_to_ready_s"] = round(wait_until_ready(base, server), 2)
        with httpx.Client(base_url=base, timeout=120) as client:
            result["rss_idle_mb"] = rss_mb(server.pid)
            client.post("/v1/search", json={"query": SEARCH_QUERIES[0]}).raise_for_status()
            result["rss_after_first_search_mb"] = rss_mb(server.pid)
            for number in range(questions):
                question = QUESTIONS[number % len(QUESTIONS)]
                client.post("/v1/ask", json={"question": question}).raise_for_status()
                if number == 0:
                    result["rss_after_first_answer_mb"] = rss_mb(server.pid)
            result[f"rss_after_{questions}_answers_mb"] = rss_mb(server.pid)
            before = rss_mb(server.pid)
            for number in range(searches):
                query = SEARCH_QUERIES[number % len(SEARCH_QUERIES)]
                client.post("/v1/search", json={"query": query}).raise_for_status()
            result[f"search_rss_before_{searches}_mb"] = before
            result[f"search_rss_after_{searches}_mb"] = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--searches", type=int, default=1000)
    parser.add_argument("--backends", default="torch,onnx-int8")
    parser.add_argument("--no-serve", action="store_true")
    args = parser.parse_args()

    query = "When is the workshop open on Saturday?"
    results: dict[str, Any] = {
        "python_pass": timed_runs([sys.executable, "-c", "pass"], dict(os.environ), args.runs),
        "floor_onnx_encode": timed_runs(
            [sys.executable, "-c", FLOOR_SCRIPT, query], dict(os.environ), args.runs
        ),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            env = {
                **os.environ,
                "RAG_DATA_DIR": str(Path(tmp) / backend),
                "RAG_EMBEDDING__BACKEND": backend,
            }
            subprocess.run(
                [RAG, "ingest", str(SAMPLE_DATA), "--json"],
                env=env,
                check=True,
                capture_output=True,
            )
            row: dict[str, Any] = {
                "rag_search": timed_runs([RAG, "search", query, "--k", "2"], env, args.runs),
                "rag_ask": timed_runs([RAG, "ask", query], env, max(1, args.runs // 2)),
            }
            if not args.no_serve:
                row["rag_serve"] = serve_memory(env, args.questions, args.searches)
            results[backend] = row
            print(json.dumps({backend: row}), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
