"""Calibrate `retrieval.min_relevance`, the score under which questions are refused unasked.

    python bench/refusal_threshold.py [--limit 500]

Ingests the SQuAD paragraphs, then takes the best cosine score among the hybrid hits for
(a) SQuAD questions, answerable from the corpus, and (b) SciFact queries, which that corpus
cannot answer. Prints JSON with the percentiles of both and, for candidate thresholds, the
share of answerable questions wrongly refused and of off-topic ones correctly refused.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path

import numpy as np

from ingest.ingestion import Ingestor
from rag.embedding import load_embedder
from rag.retrieval.retriever import Retriever
from rag.settings import EmbeddingSettings, Settings
from rag.storage.filters import SearchFilter
from rag.storage.knowledge_base import KnowledgeBase

BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench-data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    rng = random.Random(0)
    squad_lines = (BENCH / "squad-dev-13articles" / "qa.jsonl").read_text().splitlines()
    scifact_lines = (BENCH / "scifact-train" / "queries.jsonl").read_text().splitlines()
    squad = [json.loads(x) for x in squad_lines if x.strip()]
    scifact = [json.loads(x) for x in scifact_lines if x.strip()]
    answerable = [r["question"] for r in rng.sample(squad, args.limit)]
    off_topic = [r["text"] for r in rng.sample(scifact, min(args.limit, len(scifact)))]

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp) / "store"
        settings = Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg]
        embedder = load_embedder(EmbeddingSettings())
        kb = KnowledgeBase(settings)
        Ingestor(kb, embedder, settings).ingest_paths(
            [BENCH / "squad-dev-13articles" / "corpus.jsonl"], collection="squad"
        )
        retriever = Retriever(kb, embedder, settings.retrieval)
        only = SearchFilter(collections=("squad",))

        def best(question: str) -> float:
            result = retriever.search(question, k=5, search_filter=only)
            return result.best_dense_score or 0.0

        good = np.array([best(q) for q in answerable])
        bad = np.array([best(q) for q in off_topic])
        kb.close()

    def pct(values: np.ndarray) -> dict[str, float]:
        return {f"p{p}": round(float(np.percentile(values, p)), 3) for p in (1, 5, 10, 50, 90)}

    thresholds = {}
    for threshold in (0.25, 0.3, 0.35, 0.4, 0.45):
        thresholds[str(threshold)] = {
            "false_refusal_rate": round(float((good < threshold).mean()), 4),
            "off_topic_refusal_rate": round(float((bad < threshold).mean()), 4),
        }
    print(
        json.dumps(
            {
                "answerable_questions": len(good),
                "off_topic_questions": len(bad),
                "answerable_best_score": pct(good),
                "off_topic_best_score": pct(bad),
                "thresholds": thresholds,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
