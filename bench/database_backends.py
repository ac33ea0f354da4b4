"""Retrieval quality and speed of the two database backends side by side, in one run.

    python bench/database_backends.py [--limit N] [--postgres-url URL]

Ingests the SciFact train corpus into a SQLite store and into a PostgreSQL store (the URL
given, or a throwaway server started for the run as in the tests), with the same embedder,
then reports per backend: ingestion time, nDCG@10 for lexical, dense and hybrid retrieval on
the train queries, and search latency p50/p95 per mode. Dense retrieval runs on the same
FAISS code over the same vectors, so only the lexical index (FTS5 bm25 vs. BM25 computed
over a tsvector) and the fusion inputs differ. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from ingestion import SCIFACT, limited_corpus, ndcg

from ingest.ingestion import Ingestor
from rag.embedding import load_embedder
from rag.evaluation import read_beir_queries
from rag.retrieval.retriever import Retriever
from rag.settings import Settings
from rag.storage.knowledge_base import KnowledgeBase

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests import postgres_server  # the tests' throwaway server helper

MODES = ("lexical", "dense", "hybrid")


def latency_ms(retriever: Retriever, queries: list[str], mode: str) -> dict[str, float]:
    times = []
    for query in queries:
        started = time.perf_counter()
        retriever.search(query, k=10, mode=mode)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50": round(statistics.median(times), 2),
        "p95": round(times[int(0.95 * (len(times) - 1))], 2),
    }


def run(name: str, settings: Settings, corpus: Path, limit: int) -> dict[str, Any]:
    embedder = load_embedder(settings.embedding)
    with closing(KnowledgeBase(settings)) as kb:
        started = time.perf_counter()
        summary = Ingestor(kb, embedder, settings).ingest_paths([corpus], collection="bench")
        row: dict[str, Any] = {
            "backend": name,
            "docs": summary.added,
            "chunks": kb.stats().chunks,
            "ingest_seconds": round(time.perf_counter() - started, 1),
        }
        retriever = Retriever(kb, embedder, settings.retrieval)
        for mode in MODES:
            row[f"ndcg_at_10_{mode}"] = ndcg(retriever, "bench", mode, limit)["ndcg_at_10"]
        queries = list(read_beir_queries(SCIFACT / "queries.jsonl").values())[:200]
        retriever.search(queries[0], k=10)  # warm caches on both sides
        for mode in MODES:
            row[f"search_ms_{mode}"] = latency_ms(retriever, queries, mode)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=SCIFACT / "corpus.jsonl")
    parser.add_argument("--limit", type=int, default=0, help="Only the first N documents.")
    parser.add_argument("--postgres-url", help="A server's maintenance database URL.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rag-bench-db-") as tmp:
        folder = Path(tmp)
        folder.chmod(0o755)  # a throwaway server started as root runs as `postgres`
        corpus = limited_corpus(args.corpus, args.limit, folder)
        server = args.postgres_url or postgres_server.start(folder / "pg")
        try:
            rows = []
            for name, url in (
                ("sqlite", None),
                ("postgresql", postgres_server.create_database(server)),
            ):
                settings = Settings(  # type: ignore[call-arg]
                    data_dir=folder / name, database_url=url, _env_file=None
                )
                rows.append(run(name, settings, corpus, args.limit))
                print(json.dumps(rows[-1]), flush=True)
        finally:
            if not args.postgres_url:
                postgres_server.stop(folder / "pg")
    print(json.dumps({"backends": rows}, indent=2))


if __name__ == "__main__":
    main()
