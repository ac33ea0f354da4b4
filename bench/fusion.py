"""Where the gold paragraph ranks under each way of fusing dense and lexical candidates.

    python bench/fusion.py --data-dir D --qa QA.jsonl [--report-limit 100 --seed 0]
        [--grid]

For every answerable row of a QA file (`bench/make_qa_mix.py`) over a store that holds its
corpus (e.g. the data dir of a `rag eval qa` run), hybrid search with `rrf` and with
`convex` fusion; prints JSON with the share of questions whose gold paragraph is among the
best 1 / 2 / 4 distinct documents. With `--report-limit`, the rows `rag eval qa --limit N
--seed S` reports on are scored apart from the others, so that a choice made on the others
can be checked on the report set. `--grid` adds RRF constants and BM25 weights and convex
dense weights.
"""

from __future__ import annotations

import argparse
import json
from contextlib import closing
from pathlib import Path
from typing import Any

from rag.embedding import load_embedder
from rag.evaluation import QARow, read_qa_rows
from rag.retrieval.retriever import Retriever
from rag.settings import RetrievalSettings, Settings
from rag.storage.knowledge_base import KnowledgeBase

DEPTHS = (1, 2, 4)


def fusions(grid: bool) -> dict[str, dict[str, Any]]:
    named: dict[str, dict[str, Any]] = {"rrf": {"fusion": "rrf"}, "convex": {"fusion": "convex"}}
    if grid:
        for k in (1, 2, 5, 10, 60):
            for lexical in (1.0, 1.25, 1.5, 2.0, 3.0):
                named[f"rrf k{k} lexical x{lexical}"] = {
                    "fusion": "rrf", "rrf_k": k, "lexical_weight": lexical,
                }  # fmt: skip
        for dense in (0.35, 0.4, 0.45, 0.55):
            named[f"convex dense {dense}"] = {
                "fusion": "convex", "dense_weight": dense, "lexical_weight": 1 - dense,
            }  # fmt: skip
    return named


def gold_depths(retriever: Retriever, rows: list[QARow]) -> dict[str, float]:
    found = dict.fromkeys(DEPTHS, 0)
    for row in rows:
        documents: list[str] = []
        for hit in retriever.search(row.question, k=4 * max(DEPTHS)).hits:
            if hit.source not in documents:
                documents.append(hit.source)
        for depth in DEPTHS:
            found[depth] += row.doc_id in documents[:depth]
    return {f"best_{d}": round(found[d] / max(1, len(rows)), 4) for d in DEPTHS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--qa", type=Path, required=True)
    parser.add_argument("--report-limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", action="store_true")
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir)
    every = [r for r in read_qa_rows(args.qa, limit=None, seed=args.seed) if r.answers and r.doc_id]
    sets = {"all": every}
    if args.report_limit is not None:
        reported = {r.id for r in read_qa_rows(args.qa, limit=args.report_limit, seed=args.seed)}
        sets = {
            "report": [r for r in every if r.id in reported],
            "others": [r for r in every if r.id not in reported],
        }
    embedder = load_embedder(settings.embedding)
    results: dict[str, Any] = {name: {"questions": len(rows)} for name, rows in sets.items()}
    with closing(KnowledgeBase(settings)) as kb:
        for label, overrides in fusions(args.grid).items():
            retrieval = RetrievalSettings(**{**settings.retrieval.model_dump(), **overrides})
            retriever = Retriever(kb, embedder, retrieval)
            for name, rows in sets.items():
                results[name][label] = gold_depths(retriever, rows)
    print(json.dumps({"data_dir": str(args.data_dir), "qa": str(args.qa), **results}, indent=2))


if __name__ == "__main__":
    main()
