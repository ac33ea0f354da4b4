"""Write a QA file mixing SQuAD questions (answerable) with SciFact claims (unanswerable from
the SQuAD paragraphs, so `answers` is empty) for `rag eval qa`.

    python bench/make_qa_mix.py --answerable 300 --unanswerable 60 -o /tmp/qa-mix.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench-data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answerable", type=int, default=300)
    parser.add_argument("--unanswerable", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    squad_lines = (BENCH / "squad-dev-13articles" / "qa.jsonl").read_text().splitlines()
    squad = [json.loads(line) for line in squad_lines if line.strip()]
    scifact_lines = (BENCH / "scifact-train" / "queries.jsonl").read_text().splitlines()
    claims = [json.loads(line) for line in scifact_lines if line.strip()]
    rows = rng.sample(squad, args.answerable)
    rows += [
        {"id": f"scifact-{c['_id']}", "question": c["text"], "answers": [], "doc_id": None}
        for c in rng.sample(claims, args.unanswerable)
    ]
    rng.shuffle(rows)
    with open(args.output, "w", encoding="utf-8") as sink:
        for row in rows:
            sink.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
