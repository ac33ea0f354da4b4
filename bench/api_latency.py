"""HTTP overhead of /v1/search, idle and while an answer streams, in one run.

    python bench/api_latency.py [--corpus PATH] [--queries 200]

Starts the real app under uvicorn on 127.0.0.1 (a free port), ingests the corpus (the sample
data by default), then measures:
  * the same retrieval called in-process (Retriever.search) and through POST /v1/search:
    p50/p95 of both and the HTTP overhead at p50 (target <= 30%);
  * /v1/search p95 while a /v1/ask stream is generating (target <= 3x the idle p95).
Prints JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sample_questions import SAMPLE_DATA, SEARCH_QUERIES

from api.app import create_app
from api.local_server import serve_in_background
from rag.evaluation import percentile
from rag.settings import LLMSettings, Settings


def timed(call: object, n: int) -> list[float]:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        call(SEARCH_QUERIES[i % len(SEARCH_QUERIES)])  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(samples, 50), 2),
        "p95_ms": round(percentile(samples, 95), 2),
        "n": len(samples),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=SAMPLE_DATA)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        settings = Settings(  # type: ignore[call-arg]
            data_dir=Path(tmp) / "store", llm=LLMSettings(n_threads=1), _env_file=None
        )
        app = create_app(settings)
        base_url = stack.enter_context(serve_in_background(app))
        state = app.state.rag
        state.resources.ingestor.ingest_paths([args.corpus])
        retriever = state.resources.retriever
        client = httpx.Client(base_url=base_url, timeout=120)

        def in_process(query: str) -> None:
            retriever.search(query, k=5)

        def over_http(query: str) -> None:
            response = client.post("/v1/search", json={"query": query, "k": 5})
            response.raise_for_status()

        timed(in_process, 20)  # warm-up of both paths
        timed(over_http, 20)
        local = timed(in_process, args.queries)
        http_idle = timed(over_http, args.queries)

        streaming = threading.Event()
        stream_stats: dict[str, float] = {}

        def stream_answer() -> None:
            started = time.perf_counter()
            with httpx.Client(base_url=base_url, timeout=300) as other:
                body = {
                    "question": "Describe the history, events and plans of the co-op in detail.",
                    "stream": True,
                    "max_tokens": 400,
                }
                with other.stream("POST", "/v1/ask", json=body) as response:
                    for line in response.iter_lines():
                        if line.startswith("event: token"):
                            streaming.set()
            stream_stats["stream_seconds"] = round(time.perf_counter() - started, 2)
            streaming.set()

        streamer = threading.Thread(target=stream_answer)
        streamer.start()
        streaming.wait(timeout=120)
        http_busy: list[float] = []
        while streamer.is_alive() and len(http_busy) < args.queries:
            http_busy.extend(timed(over_http, 1))
        streamer.join()
        client.close()

    local_s, idle_s, busy_s = summary(local), summary(http_idle), summary(http_busy)
    print(
        json.dumps(
            {
                "corpus": str(args.corpus),
                "in_process_search": local_s,
                "http_search_idle": idle_s,
                "http_overhead_at_p50": round(idle_s["p50_ms"] / local_s["p50_ms"] - 1, 3),
                "http_search_while_streaming": busy_s,
                "busy_to_idle_p95_ratio": round(busy_s["p95_ms"] / idle_s["p95_ms"], 3),
                **stream_stats,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
