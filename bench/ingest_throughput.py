"""Ingestion throughput against a plain SentenceTransformer.encode loop, in one run.

    python bench/ingest.py [--corpus ../shared/bench-data/scifact-train/corpus.jsonl]

Prints JSON: docs, chunks, seconds, chunks/s of the pipeline; the raw encode rate over the
very same chunk texts; their ratio (target >= 0.9); and a second, unchanged run's time as a
fraction of the first (target <= 0.05).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from ingest.ingestion import Ingestor
from rag.embedding import load_embedder
from rag.settings import EmbeddingSettings, Settings
from rag.storage.knowledge_base import KnowledgeBase
from rag.storage.models import Chunk

DEFAULT_CORPUS = (
    Path(__file__).resolve().parents[2] / "shared" / "bench-data" / "scifact-train" / "corpus.jsonl"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, default=0, help="Use only the first N lines.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        corpus = args.corpus
        if args.limit:
            corpus = Path(tmp) / "corpus.jsonl"
            with open(args.corpus) as src, open(corpus, "w") as dst:
                for i, line in enumerate(src):
                    if i >= args.limit:
                        break
                    dst.write(line)
        settings = Settings(data_dir=Path(tmp) / "store", _env_file=None)  # type: ignore[call-arg]
        embedder = load_embedder(EmbeddingSettings())
        embedder.encode(["warm up the model"])  # exclude one-time start-up from both sides
        kb = KnowledgeBase(settings)
        ingestor = Ingestor(kb, embedder, settings)

        started = time.perf_counter()
        first = ingestor.ingest_paths([corpus], collection="bench")
        first_seconds = time.perf_counter() - started

        with kb.read_session() as session:
            texts = list(session.scalars(select(Chunk.text).order_by(Chunk.id)))

        # The raw baseline: the same texts, the same model object, plain encode calls of the
        # same group size as the pipeline uses.
        model = embedder.model
        group = settings.ingest.embed_group_chunks
        started = time.perf_counter()
        for start in range(0, len(texts), group):
            model.encode(
                texts[start : start + group],
                batch_size=settings.embedding.batch_size,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        raw_seconds = time.perf_counter() - started

        started = time.perf_counter()
        second = ingestor.ingest_paths([corpus], collection="bench")
        second_seconds = time.perf_counter() - started
        kb.close()

    pipeline_rate = len(texts) / first_seconds
    raw_rate = len(texts) / raw_seconds
    print(
        json.dumps(
            {
                "corpus": str(args.corpus),
                "docs": first.added,
                "failed": first.failed,
                "chunks": len(texts),
                "seconds": round(first_seconds, 2),
                "chunks_per_s": round(pipeline_rate, 1),
                "raw_encode_seconds": round(raw_seconds, 2),
                "raw_encode_chunks_per_s": round(raw_rate, 1),
                "ratio_pipeline_to_raw": round(pipeline_rate / raw_rate, 3),
                "second_run_seconds": round(second_seconds, 2),
                "second_run_unchanged": second.unchanged,
                "second_run_embedded": second.chunks_embedded,
                "second_to_first_ratio": round(second_seconds / first_seconds, 4),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
