"""Write QA files for `rag eval qa`.

* the QA mix: SQuAD questions (answerable) with SciFact claims (off-topic: unanswerable from
  the SQuAD paragraphs, so `answers` is empty);
* with `--squad2`: the SQuAD 2.0 train slice's on-topic unanswerable questions (kept with
  `is_impossible`) and answerable ones.

    python bench/make_qa_mix.py --answerable 300 --unanswerable 60 -o /tmp/qa-mix.jsonl
    python bench/make_qa_mix.py --squad2 --answerable 50 --unanswerable 50 -o /tmp/squad2-mix.jsonl

`--outside-eval-sample 100` keeps only the rows `rag eval qa --limit 100` leaves out (its
default seed): the same mix's questions beyond the report set, to see how far its figures
carry.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from rag.evaluation import read_qa_rows

BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench-data"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def squad_with_claims(rng: random.Random, answerable: int, off_topic: int) -> list[dict[str, Any]]:
    squad = read_jsonl(BENCH / "squad-dev-13articles" / "qa.jsonl")
    claims = read_jsonl(BENCH / "scifact-train" / "queries.jsonl")
    return rng.sample(squad, answerable) + [
        {"id": f"scifact-{c['_id']}", "question": c["text"], "answers": [], "doc_id": None}
        for c in rng.sample(claims, off_topic)
    ]


def squad2(rng: random.Random, answerable: int, impossible: int) -> list[dict[str, Any]]:
    rows = read_jsonl(BENCH / "squad2-train-slice" / "qa.jsonl")
    on_topic = [r for r in rows if r["is_impossible"]]
    possible = [r for r in rows if not r["is_impossible"]]
    return rng.sample(on_topic, min(impossible, len(on_topic))) + rng.sample(
        possible, min(answerable, len(possible))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--squad2", action="store_true", help="From the SQuAD 2.0 slice.")
    parser.add_argument("--answerable", type=int, default=300)
    parser.add_argument("--unanswerable", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument(
        "--outside-eval-sample",
        type=int,
        metavar="N",
        help="Write only the rows that `rag eval qa --limit N` does not sample.",
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    build = squad2 if args.squad2 else squad_with_claims
    rows = build(rng, args.answerable, args.unanswerable)
    rng.shuffle(rows)
    write(args.output, rows)
    if args.outside_eval_sample is not None:
        # The evaluation's own sampling, on the file as written, names the rows to leave out.
        sampled = {r.id for r in read_qa_rows(args.output, limit=args.outside_eval_sample, seed=0)}
        write(args.output, [row for row in rows if str(row["id"]) not in sampled])


def write(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as sink:
        for row in rows:
            sink.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
