"""How well each verification prompt tells answerable from on-topic unanswerable questions.

Every question of a SQuAD 2.0 sample is asked against the paragraph it was written from (the
one an unanswerable question was written to look answerable from), with each prompt variant;
no answer is generated, so a variant costs one prompt evaluation per question
(`LlamaCppLLM.yes_probability` reuses what the context holds, so a variant's fixed opening,
e.g. worked examples, is evaluated once). Prints, per variant, the
AUC of P(yes) between the two kinds and the share of unanswerable questions refused when at
most 5 % / 10 % of the answerable ones are.

The sample is drawn apart from the report set (`bench/make_qa_mix.py --squad2 --answerable 80
--unanswerable 80 --seed 1`) so a variant chosen here is measured there independently.

    python bench/verifier_prompts.py --answerable 60 --unanswerable 60 --seed 3
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.answering.llm import ChatMessage, LlamaCppLLM
from rag.answering.verification import verification_messages, verification_request
from rag.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_qa_mix import BENCH, read_jsonl, squad2

Variant = Callable[[str, str], list[ChatMessage]]


def zero_shot(question: str, source: str) -> list[ChatMessage]:
    """The verification prompt before its worked examples (2026-12-01): instruction and
    request only."""
    messages = verification_messages(question, source)
    return [messages[0], messages[-1]]


# One more made-up source for the variant with six examples: the opposite relation.
THIRD_EXAMPLE = (
    "The Tallow Bridge opened to carts in 1889. It was closed to cars in 1976, after a "
    "flood weakened its piers; pedestrians still cross it.",
    (
        ("Why was the Tallow Bridge opened to cars in 1976?", "No"),
        ("Why was the Tallow Bridge closed to cars?", "Yes"),
    ),
)


def more_examples(question: str, source: str) -> list[ChatMessage]:
    messages = verification_messages(question, source)
    extra_source, asked = THIRD_EXAMPLE
    extra = []
    for example_question, reply in asked:
        request = verification_request(example_question, extra_source)
        extra += [ChatMessage("user", request), ChatMessage("assistant", reply)]
    return [*messages[:-1], *extra, messages[-1]]


VARIANTS: dict[str, Variant] = {
    "zero_shot_2026_12_01": zero_shot,
    "today": verification_messages,
    "more_examples": more_examples,
}


def auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """P(a random positive scores above a random negative), ties counted half."""
    pos, neg = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def refused_at_budget(answerable: Sequence[float], impossible: Sequence[float], budget: float):
    """The threshold refusing at most ``budget`` of the answerable questions (P(yes) below it),
    and the share of unanswerable ones it refuses."""
    ordered = sorted(answerable)
    allowed = int(budget * len(ordered))
    threshold = ordered[allowed] if allowed < len(ordered) else 1.0
    refused = sum(p < threshold for p in impossible) / len(impossible)
    return {"threshold": round(threshold, 4), "unanswerable_refused": round(refused, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answerable", type=int, default=60)
    parser.add_argument("--unanswerable", type=int, default=60)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--details", type=Path, help="Write each row's P(yes) here (JSONL).")
    args = parser.parse_args()

    corpus = {
        d["_id"]: d["text"] for d in read_jsonl(BENCH / "squad2-train-slice" / "corpus.jsonl")
    }
    report_ids = {r["id"] for r in squad2(random.Random(1), 80, 80)}
    # A larger draw, minus the report set's rows, cut to the wanted counts per kind.
    pool = [
        r
        for r in squad2(random.Random(args.seed), args.answerable * 3, args.unanswerable * 3)
        if r["id"] not in report_ids
    ]
    rows = [r for r in pool if not r["is_impossible"]][: args.answerable]
    rows += [r for r in pool if r["is_impossible"]][: args.unanswerable]

    llm = LlamaCppLLM(Settings().llm)
    results: dict[str, Any] = {
        "model": llm.name,
        "answerable": sum(not r["is_impossible"] for r in rows),
        "unanswerable": sum(r["is_impossible"] for r in rows),
        "seed": args.seed,
    }
    details: list[dict[str, Any]] = [
        {"id": r["id"], "impossible": r["is_impossible"]} for r in rows
    ]
    for name in args.variants:
        build = VARIANTS[name]
        started = time.perf_counter()
        scores = []
        for row, detail in zip(rows, details, strict=True):
            yes = llm.yes_probability(llm.render(build(row["question"], corpus[row["doc_id"]])))
            scores.append(yes)
            detail[name] = round(yes, 4)
        answerable = [s for s, r in zip(scores, rows, strict=True) if not r["is_impossible"]]
        impossible = [s for s, r in zip(scores, rows, strict=True) if r["is_impossible"]]
        results[name] = {
            "auc": round(auc(answerable, impossible), 4),
            "at_5pct_false_refusals": refused_at_budget(answerable, impossible, 0.05),
            "at_10pct_false_refusals": refused_at_budget(answerable, impossible, 0.10),
            "seconds_per_question": round((time.perf_counter() - started) / len(rows), 3),
        }
        print(json.dumps({name: results[name]}), file=sys.stderr, flush=True)
    if args.details:
        args.details.write_text("".join(json.dumps(d) + "\n" for d in details))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
