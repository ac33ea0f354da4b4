"""Spark ingestion beside the local engine and the raw encoder, in one run on SciFact.

    python bench/spark_ingestion.py [--limit N] [--masters local[1],local[2]]

Each engine ingests the same corpus into a fresh SQLite store: the local engine (this
process), then ``--engine spark`` once per master (a cold Spark session each: JVM start,
Python workers, one model load per worker). Then the raw encoder (the pipeline's ONNX model
called directly, one thread) encodes the very same chunk texts: the per-core encode rate the
README's estimate for N executors is built from. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from rag.embedding import load_embedder
from rag.settings import EmbeddingSettings, Settings
from rag.storage.knowledge_base import KnowledgeBase
from rag.storage.models import Chunk

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "bench-data" / "scifact-train" / "corpus.jsonl"


def sliced(corpus: Path, limit: int, folder: Path) -> Path:
    out = folder / "corpus.jsonl"
    with open(corpus) as src, open(out, "w") as dst:
        for number, line in enumerate(src):
            if limit and number >= limit:
                break
            dst.write(line)
    return out


def ingest(corpus: Path, data_dir: Path, engine: str, master: str | None) -> dict[str, Any]:
    """One `rag ingest` process (as a user runs it): wall time includes everything."""
    command = [sys.executable, "-m", "api.cli", "--data-dir", str(data_dir), "ingest",
               str(corpus), "--engine", engine, "--json"]  # fmt: skip
    if master:
        command += ["--spark-master", master]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
    seconds = time.perf_counter() - started
    summary = json.loads(done.stdout)
    return {
        "documents": summary["added"],
        "chunks": summary["chunks_written"],
        "wall_s": round(seconds, 1),
        "chunks_per_s": round(summary["chunks_written"] / seconds, 1),
    }


def chunk_texts(data_dir: Path) -> list[str]:
    settings = Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg]
    kb = KnowledgeBase(settings)
    with kb.read_session() as session:
        texts = list(session.scalars(select(Chunk.text).order_by(Chunk.id)))
        assert session.scalar(select(func.count()).select_from(Chunk)) == len(texts)
    kb.close()
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=0, help="corpus rows (0 = all 5183)")
    parser.add_argument("--masters", default="local[1],local[2]")
    args = parser.parse_args()
    masters = args.masters.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        corpus = sliced(SCIFACT, args.limit, folder)
        runs: dict[str, Any] = {"local": ingest(corpus, folder / "local", "local", None)}
        for master in masters:
            runs[f"spark {master}"] = ingest(corpus, folder / master, "spark", master)
        texts = chunk_texts(folder / "local")
        embedder = load_embedder(EmbeddingSettings(threads=1))
        embedder.encode(texts[:32])  # warm
        started = time.perf_counter()
        embedder.encode(texts)
        raw_seconds = time.perf_counter() - started
    per_core = len(texts) / raw_seconds
    local = runs["local"]
    report: dict[str, Any] = {
        "corpus_rows": args.limit or "all",
        "runs": runs,
        "raw_encode_one_thread_chunks_per_s": round(per_core, 1),
        "spark_to_local": {
            name: round(local["wall_s"] / run["wall_s"], 3)
            for name, run in runs.items()
            if name != "local"
        },
        # Encoding dominates; executors scale it until the store's writes do. An estimate
        # from the measured per-core rate, not a measurement.
        "estimate_chunks_per_s_on_n_single_core_executors": {
            str(n): round(per_core * n, 0) for n in (1, 8, 32, 128)
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
