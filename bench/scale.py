"""The vector index at 100k and 1M chunks: exact flat search vs. the approximate index.

    python bench/scale.py [--sizes 100000,1000000] [--encodings SQ4,PQ96] [--queries 500]

Synthetic vectors, shaped like real ones: the first 3,000 SciFact abstracts are embedded
with the bundled MiniLM (ONNX int8 backend), k-means (64 clusters) is fitted to them, and
each synthetic vector is a cluster centre (picked in proportion to the cluster's size) plus
Gaussian noise with the pooled within-cluster covariance of the real vectors, normalized.
Queries are drawn the same way. Both sides of the report print how close the nearest
neighbour is on average, for the real sample and the synthetic set, as a check that the
synthetic data is not easier than real data.

Per size and encoding: build time (train + add), index memory (the serialized index) and
the process's resident-memory growth over the build (the index, FAISS's id hashtable and
its work buffers), query p50/p95 (one query at a time, re-scoring
included: the exact vectors come from a memory-mapped file, or with ``--rescore-from
sqlite`` from a SQLite ``chunks`` table through the store's own query),
recall@10 against exact search, and recall@10 under filters letting 10% and 1% of the
chunks through. The flat index (raw ``faiss.IndexFlatIP``) is measured beside it: its
memory and p50 are the baseline. Prints JSON. Targets: 1M x 384 in <= 300 MB of index
memory, recall@10 >= 0.95 after re-scoring, p50 <= 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from sqlalchemy.orm import sessionmaker

from rag.embedding import load_embedder
from rag.settings import EmbeddingSettings
from rag.storage import store
from rag.storage.approximate_index import ApproximateIndex, lists_for, training_size
from rag.storage.vector_cache import vectors_from_bytes

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "bench-data" / "scifact-train"
DIM = 384
REAL_SAMPLE = 3000
CLUSTERS = 64


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def real_vectors() -> np.ndarray:
    texts = []
    with open(SCIFACT / "corpus.jsonl") as corpus:
        for _, line in zip(range(REAL_SAMPLE), corpus, strict=False):
            row = json.loads(line)
            texts.append(f"{row['title']}\n{row['text']}")
    embedder = load_embedder(EmbeddingSettings(backend="onnx-int8"))
    return np.asarray(embedder.encode(texts), dtype=np.float32)


class SyntheticVectors:
    """A Gaussian mixture fitted to real embeddings (see the module docstring)."""

    def __init__(self, real: np.ndarray, seed: int = 0) -> None:
        kmeans = faiss.Kmeans(DIM, CLUSTERS, niter=25, seed=seed, spherical=True)
        kmeans.train(real)
        _, assignment = kmeans.index.search(real, 1)
        assignment = assignment[:, 0]
        self.centres = kmeans.centroids
        residuals = real - self.centres[assignment]
        covariance = residuals.T @ residuals / len(real)
        values, vectors = np.linalg.eigh(covariance)
        self.noise = vectors * np.sqrt(np.clip(values, 0, None))
        counts = np.bincount(assignment, minlength=CLUSTERS).astype(np.float64)
        self.weights = counts / counts.sum()
        self.rng = np.random.default_rng(seed)

    def draw(self, count: int, batch: int = 100_000) -> np.ndarray:
        out = np.empty((count, DIM), dtype=np.float32)
        for start in range(0, count, batch):
            n = min(batch, count - start)
            cluster = self.rng.choice(CLUSTERS, size=n, p=self.weights)
            noise = self.rng.standard_normal((n, DIM)).astype(np.float32) @ self.noise.T
            part = self.centres[cluster] + noise
            out[start : start + n] = part / np.linalg.norm(part, axis=1, keepdims=True)
        return out


def mean_nearest_cosine(vectors: np.ndarray, sample: int = 500) -> float:
    index = faiss.IndexFlatIP(DIM)
    index.add(vectors)
    scores, _ = index.search(vectors[:sample], 2)
    return round(float(scores[:, 1].mean()), 3)  # column 0 is the vector itself


def exact_top(base: np.ndarray, queries: np.ndarray, k: int, allowed: np.ndarray | None):
    if allowed is None:
        index = faiss.IndexFlatIP(DIM)
        index.add(base)
        return index.search(queries, k)[1]
    index = faiss.IndexIDMap(faiss.IndexFlatIP(DIM))
    index.add_with_ids(base[allowed], allowed)
    return index.search(queries, k)[1]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f[f >= 0]) & set(t[t >= 0])) for f, t in zip(found, truth, strict=True))
    return round(hits / truth[truth >= 0].size, 4)


def timed_queries(search: Any, queries: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    results, times = [], []
    for query in queries:
        started = time.perf_counter()
        results.append(search(query))
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    latency = {
        "p50": round(statistics.median(times), 2),
        "p95": round(times[int(0.95 * (len(times) - 1))], 2),
    }
    return np.vstack(results), latency


def mapped_vectors(base: np.ndarray, folder: Path) -> Any:
    """Exact vectors from a memory-mapped file (the index's own cost, without SQL)."""
    stored = np.lib.format.open_memmap(folder / "exact.npy", "w+", np.float32, base.shape)
    stored[:] = base
    stored.flush()

    def exact_vectors(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ordered = np.sort(ids)
        return ordered, np.asarray(stored[ordered])

    return exact_vectors


def sqlite_vectors(base: np.ndarray, folder: Path) -> Any:
    """Exact vectors read as the store reads them: ``store.chunk_embeddings`` on a SQLite
    ``chunks`` table whose rows also carry ~1.2 KB of text, like real chunk rows."""
    engine = store.make_engine(f"sqlite:///{folder / 'chunks.sqlite3'}")
    filler = "x" * 1200
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE chunks (id INTEGER PRIMARY KEY, text TEXT, embedding BLOB)"
        )
        for start in range(0, len(base), 20_000):
            conn.exec_driver_sql(
                "INSERT INTO chunks (id, text, embedding) VALUES (?, ?, ?)",
                [
                    (i, filler, base[i].tobytes())
                    for i in range(start, min(start + 20_000, len(base)))
                ],
            )
    sessions = sessionmaker(engine)

    def exact_vectors(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with sessions() as session:
            rows = store.chunk_embeddings(session, chunk_ids=ids.tolist())
        found = np.fromiter(rows.keys(), dtype=np.int64, count=len(rows))
        return found, vectors_from_bytes(list(rows.values()), DIM)

    return exact_vectors


def measure(size: int, encoding: str, source: SyntheticVectors, args: Any) -> dict[str, Any]:
    base = source.draw(size)
    queries = source.draw(args.queries)
    folder = Path(tempfile.mkdtemp(prefix="rag-scale-"))
    exact_vectors = (
        sqlite_vectors(base, folder)
        if args.rescore_from == "sqlite"
        else mapped_vectors(base, folder)
    )

    ids = np.arange(size, dtype=np.int64)
    rng = np.random.default_rng(1)
    row: dict[str, Any] = {
        "chunks": size, "dim": DIM, "encoding": encoding, "rescore_from": args.rescore_from,
    }  # fmt: skip

    rss_before = rss_bytes()
    started = time.perf_counter()
    index = ApproximateIndex(
        DIM, exact_vectors, lists=lists_for(size), encoding=encoding,
        probes=args.probes, candidates=args.candidates,
    )  # fmt: skip
    index.train(base[rng.choice(size, size=training_size(size, index.lists), replace=False)])
    trained = time.perf_counter()
    index.add(ids, base)
    row["lists"] = index.lists
    row["train_seconds"] = round(trained - started, 1)
    row["build_seconds"] = round(time.perf_counter() - started, 1)
    row["index_mb"] = round(index.memory_bytes() / 2**20, 1)
    row["rss_growth_mb"] = round((rss_bytes() - rss_before) / 2**20, 1)

    k = 10
    truth = exact_top(base, queries, k, None)
    found, row["query_ms"] = timed_queries(lambda q: index.search(q, k)[1], queries)
    row["recall_at_10"] = recall(found, truth)
    for share in (0.10, 0.01):
        allowed = np.sort(rng.choice(size, size=int(size * share), replace=False))
        truth = exact_top(base, queries, k, allowed)
        found, latency = timed_queries(lambda q, a=allowed: index.search(q, k, a)[1], queries)
        row[f"filtered_{int(share * 100)}pct"] = {"recall_at_10": recall(found, truth),
                                                 "query_ms": latency}  # fmt: skip

    flat = faiss.IndexFlatIP(DIM)
    flat.add(base)
    _, row["flat_query_ms"] = timed_queries(lambda q: flat.search(q[None, :], k)[1], queries)
    row["flat_index_mb"] = round(size * DIM * 4 / 2**20, 1)
    row["p50_vs_flat"] = round(row["query_ms"]["p50"] / row["flat_query_ms"]["p50"], 3)
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--encodings", default="SQ4")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--probes", type=int, default=32)
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--threads", type=int, default=0, help="FAISS threads (0: all cores)")
    parser.add_argument(
        "--rescore-from", choices=("memmap", "sqlite"), default="memmap",
        help="Where re-scoring reads the exact vectors: a mapped file, or SQL as the store does.",
    )  # fmt: skip
    args = parser.parse_args()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    real = real_vectors()
    source = SyntheticVectors(real)
    report: dict[str, Any] = {
        "synthetic": "Gaussian mixture fitted to 3,000 real SciFact embeddings (64 clusters)",
        "mean_nearest_neighbour_cosine": {
            "real_3000": mean_nearest_cosine(real),
            "synthetic_3000": mean_nearest_cosine(source.draw(REAL_SAMPLE)),
        },
        "faiss_threads": faiss.omp_get_max_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "runs": [],
    }
    for size in (int(s) for s in args.sizes.split(",")):
        for encoding in args.encodings.split(","):
            report["runs"].append(measure(size, encoding, source, args))
            print(json.dumps(report["runs"][-1]), flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
