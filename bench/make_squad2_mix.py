"""Write a QA file from the SQuAD 2.0 train slice: on-topic unanswerable questions (kept with
`is_impossible`) and answerable ones, for `rag eval qa` and refusal calibration.

    python bench/make_squad2_mix.py --impossible 100 --answerable 100 -o /tmp/squad2-mix.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

SLICE = Path(__file__).resolve().parents[2] / "shared" / "bench-data" / "squad2-train-slice"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--impossible", type=int, default=100)
    parser.add_argument("--answerable", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows = [json.loads(line) for line in (SLICE / "qa.jsonl").read_text().splitlines() if line]
    impossible = [r for r in rows if r["is_impossible"]]
    answerable = [r for r in rows if not r["is_impossible"]]
    chosen = rng.sample(impossible, min(args.impossible, len(impossible)))
    chosen += rng.sample(answerable, min(args.answerable, len(answerable)))
    rng.shuffle(chosen)
    with open(args.output, "w", encoding="utf-8") as sink:
        for row in chosen:
            sink.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
