"""Mixed load against a running server: search, ask and upload, bounded in count.

    python bench/load.py [--base-url http://127.0.0.1:8000] [--requests 300] [--concurrency 4]

Without --base-url it serves the app itself on a free 127.0.0.1 port over a temporary data
dir holding the sample data. Prints JSON: throughput, p50/p95/p99 latency per request kind,
status counts, and the number of 5xx answers (target: zero). 429s from the bounded LLM queue
are expected under load and counted separately.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import random
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sample_questions import QUESTIONS, SAMPLE_DATA

from rag.evaluation import percentile


@contextlib.contextmanager
def serve_locally(data_dir: Path) -> Iterator[str]:
    """The app with the sample data ingested, on a free loopback port."""
    from api.app import create_app
    from api.local_server import serve_in_background
    from rag.settings import Settings

    app = create_app(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    with serve_in_background(app) as base_url:
        app.state.rag.resources.ingestor.ingest_paths([SAMPLE_DATA])
        yield base_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        base_url = args.base_url
        if base_url is None:
            base_url = stack.enter_context(serve_locally(Path(tmp) / "store"))
        rng = random.Random(args.seed)
        kinds = rng.choices(["search", "ask", "upload"], weights=[70, 10, 20], k=args.requests)
        latencies: dict[str, list[float]] = collections.defaultdict(list)
        statuses: collections.Counter[str] = collections.Counter()
        local = threading.local()

        def one(index_kind: tuple[int, str]) -> None:
            index, kind = index_kind
            if not hasattr(local, "client"):
                local.client = httpx.Client(base_url=base_url, timeout=300)
            client: httpx.Client = local.client
            started = time.perf_counter()
            if kind == "search":
                response = client.post(
                    "/v1/search", json={"query": QUESTIONS[index % len(QUESTIONS)], "k": 5}
                )
            elif kind == "ask":
                response = client.post(
                    "/v1/ask",
                    json={"question": QUESTIONS[index % len(QUESTIONS)], "max_tokens": 48},
                )
            else:
                body = f"Load note {index}: bin {index % 17} holds spare brake pads.".encode()
                response = client.post(
                    "/v1/documents",
                    files=[("files", (f"load-{index}.txt", body, "text/plain"))],
                    data={"collection": "load"},
                )
            latencies[kind].append((time.perf_counter() - started) * 1000)
            statuses[f"{kind}:{response.status_code}"] += 1

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            list(pool.map(one, enumerate(kinds)))
        elapsed = time.perf_counter() - started

    server_errors = sum(n for key, n in statuses.items() if key.split(":")[1].startswith("5"))
    print(
        json.dumps(
            {
                "requests": args.requests,
                "concurrency": args.concurrency,
                "seconds": round(elapsed, 2),
                "throughput_rps": round(args.requests / elapsed, 2),
                "latency_ms": {
                    kind: {
                        "n": len(values),
                        "p50": round(percentile(values, 50), 1),
                        "p95": round(percentile(values, 95), 1),
                        "p99": round(percentile(values, 99), 1),
                    }
                    for kind, values in sorted(latencies.items())
                },
                "statuses": dict(sorted(statuses.items())),
                "server_errors_5xx": server_errors,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
