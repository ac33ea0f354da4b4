"""The refusal trade-off of `RAG_ANSWER__MIN_VERIFICATION`, from the per-question details of
one `rag eval qa --details FILE` run made with the threshold at 0 (nothing refused by it):
for each threshold, the answers it would refuse among answerable and unanswerable rows.

    RAG_ANSWER__MIN_VERIFICATION=0 rag eval qa --corpus C --qa QA.jsonl --details D.jsonl
    python bench/verification_threshold.py --qa QA.jsonl --details D.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rag.answering.words import without_citations
from rag.evaluation import (
    contains_gold,
    exact_match,
    read_qa_rows,
    token_f1,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qa", type=Path, required=True)
    parser.add_argument("--details", type=Path, required=True)
    args = parser.parse_args()
    rows = {r.question.strip(): r for r in read_qa_rows(args.qa, limit=None, seed=0)}
    details = [json.loads(line) for line in args.details.read_text().splitlines() if line]
    curve = []
    for step in range(0, 21):
        threshold = step / 20
        refused = {"answerable": 0, "off_topic": 0, "on_topic_unanswerable": 0}
        totals = dict.fromkeys(refused, 0)
        contains = f1 = em = cited = 0.0
        for record in details:
            row = rows[record["question"].strip()]
            yes = record["timings"].get("verification_yes")
            is_refused = record["refused"] or (yes is not None and yes < threshold)
            totals[row.kind] += 1
            refused[row.kind] += is_refused
            if row.kind == "answerable" and not is_refused:
                text = without_citations(record["answer"])
                contains += contains_gold(text, row.answers)
                f1 += token_f1(text, row.answers)
                em += exact_match(text, row.answers)
                cited += row.doc_id in {c["source"] for c in record["citations"]}
        n = max(1, totals["answerable"])
        curve.append(
            {
                "min_verification": threshold,
                **{
                    f"refused_{kind}": round(refused[kind] / totals[kind], 3)
                    for kind in refused
                    if totals[kind]
                },
                "answer_contains_gold": round(contains / n, 3),
                "f1": round(f1 / n, 3),
                "em": round(em / n, 3),
                "citation_accuracy": round(cited / n, 3),
            }
        )
    print(json.dumps({"rows": len(details), "curve": curve}, indent=1))


if __name__ == "__main__":
    main()
