"""Built-in evaluation: BEIR-style retrieval metrics and SQuAD-style answer metrics.

Metric functions are pure; the runners take callables so they do not depend on ingestion.
"""

from __future__ import annotations

import collections
import csv
import math
import random
import re
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import InvalidInputError
from rag.jsonl import read_jsonl_file

# --- retrieval metrics ----------------------------------------------------------------------


def ndcg_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(
        (2 ** relevant.get(doc, 0) - 1) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k])
    )
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum((2**grade - 1) / math.log2(rank + 2) for rank, grade in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    wanted = {d for d, g in relevant.items() if g > 0}
    if not wanted:
        return 0.0
    return len(wanted & set(ranked[:k])) / len(wanted)


def mrr_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    for rank, doc in enumerate(ranked[:k], start=1):
        if relevant.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def read_beir_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    for row in read_jsonl_file(path):
        if not isinstance(row.value, dict) or "_id" not in row.value or "text" not in row.value:
            raise InvalidInputError(f"{path}:{row.line}: not a BEIR query row")
        queries[str(row.value["_id"])] = str(row.value["text"])
    return queries


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = collections.defaultdict(dict)
    with open(path, encoding="utf-8") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if len(row) < 3 or row[0] == "query-id":
                continue
            try:
                qrels[row[0]][row[1]] = int(row[2])
            except ValueError as exc:
                raise InvalidInputError(f"{path}: bad qrels row {row}") from exc
    return dict(qrels)


def evaluate_retrieval(
    *,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    rank_documents: Callable[[str], list[str]],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """``rank_documents(query)`` returns document ids, best first (at least 100 if possible)."""
    judged = [qid for qid in qrels if qid in queries]
    totals = {"ndcg_at_10": 0.0, "recall_at_10": 0.0, "recall_at_100": 0.0, "mrr_at_10": 0.0}
    latencies: list[float] = []
    for number, qid in enumerate(judged, start=1):
        started = time.perf_counter()
        ranked = rank_documents(queries[qid])
        latencies.append((time.perf_counter() - started) * 1000)
        relevant = qrels[qid]
        totals["ndcg_at_10"] += ndcg_at_k(ranked, relevant, 10)
        totals["recall_at_10"] += recall_at_k(ranked, relevant, 10)
        totals["recall_at_100"] += recall_at_k(ranked, relevant, 100)
        totals["mrr_at_10"] += mrr_at_k(ranked, relevant, 10)
        if progress is not None:
            progress(number, len(judged))
    count = max(1, len(judged))
    result: dict[str, Any] = {key: round(value / count, 4) for key, value in totals.items()}
    result["queries"] = len(judged)
    result["latency_p50_ms"] = round(percentile(latencies, 50), 1)
    result["latency_p95_ms"] = round(percentile(latencies, 95), 1)
    return result


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = (len(ordered) - 1) * q / 100
    low, high = math.floor(index), math.ceil(index)
    return ordered[low] + (ordered[high] - ordered[low]) * (index - low)


# --- answer metrics (SQuAD's normalisation) -------------------------------------------------


def normalize_answer(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: Sequence[str]) -> float:
    return float(any(normalize_answer(prediction) == normalize_answer(g) for g in gold))


def token_f1(prediction: str, gold: Sequence[str]) -> float:
    best = 0.0
    predicted = normalize_answer(prediction).split()
    for answer in gold:
        truth = normalize_answer(answer).split()
        common = collections.Counter(predicted) & collections.Counter(truth)
        overlap = sum(common.values())
        if overlap == 0:
            continue
        precision, recall = overlap / len(predicted), overlap / len(truth)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains_gold(prediction: str, gold: Sequence[str]) -> bool:
    normalized = f" {normalize_answer(prediction)} "
    return any(f" {normalize_answer(g)} " in normalized for g in gold if normalize_answer(g))


@dataclass(frozen=True, slots=True)
class QARow:
    id: str
    question: str
    answers: tuple[str, ...]
    doc_id: str | None


def read_qa_rows(path: Path, *, limit: int | None, seed: int) -> list[QARow]:
    rows: list[QARow] = []
    for row in read_jsonl_file(path):
        raw = row.value
        if row.error or not isinstance(raw, dict) or "id" not in raw or "question" not in raw:
            raise InvalidInputError(f"{path}:{row.line}: not a QA row ({row.error or raw!r:.80})")
        rows.append(
            QARow(
                id=str(raw["id"]),
                question=str(raw["question"]),
                answers=tuple(str(a) for a in raw.get("answers") or []),
                doc_id=str(raw["doc_id"]) if raw.get("doc_id") else None,
            )
        )
    if limit is not None and limit < len(rows):
        rows = random.Random(seed).sample(rows, limit)
    return rows


@dataclass(frozen=True, slots=True)
class QAOutcome:
    answer: str
    refused: bool
    retrieved_doc_ids: list[str]  # ranked, document level
    cited_doc_ids: list[str]
    latency_ms: float


def evaluate_qa(
    rows: Sequence[QARow],
    *,
    answer: Callable[[str], QAOutcome],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    answerable = [r for r in rows if r.answers]
    unanswerable = [r for r in rows if not r.answers]
    contains = em = f1 = gold_recall = citation_hits = false_refusals = 0.0
    refused_unanswerable = 0.0
    latencies: list[float] = []
    for number, row in enumerate(rows, start=1):
        outcome = answer(row.question)
        latencies.append(outcome.latency_ms)
        if row.answers:
            if outcome.refused:
                false_refusals += 1
            else:
                contains += contains_gold(outcome.answer, row.answers)
                em += exact_match(outcome.answer, row.answers)
                f1 += token_f1(outcome.answer, row.answers)
            if row.doc_id is not None:
                gold_recall += row.doc_id in outcome.retrieved_doc_ids[:5]
                citation_hits += row.doc_id in outcome.cited_doc_ids
        elif outcome.refused:
            refused_unanswerable += 1
        if progress is not None:
            progress(number, len(rows))
    n = max(1, len(answerable))
    return {
        "questions": len(rows),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "answer_contains_gold": round(contains / n, 4),
        "em": round(em / n, 4),
        "f1": round(f1 / n, 4),
        "gold_passage_recall_at_5": round(gold_recall / n, 4),
        "citation_accuracy": round(citation_hits / n, 4),
        "refusal_rate_unanswerable": (
            round(refused_unanswerable / len(unanswerable), 4) if unanswerable else None
        ),
        "false_refusal_rate": round(false_refusals / n, 4),
        "latency_p50_ms": round(percentile(latencies, 50), 1),
        "latency_p95_ms": round(percentile(latencies, 95), 1),
    }
