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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.answering.words import without_citations
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
    # SQuAD 2.0's on-topic unanswerable questions; rows without answers and without this
    # flag are off-topic (e.g. SciFact claims asked of SQuAD paragraphs).
    is_impossible: bool = False

    @property
    def kind(self) -> str:
        if self.answers:
            return "answerable"
        return "on_topic_unanswerable" if self.is_impossible else "off_topic"


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
                is_impossible=bool(raw.get("is_impossible")),
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
    refusal_reason: str | None = None
    looped: bool = False


def evaluate_qa(
    rows: Sequence[QARow],
    *,
    answer: Callable[[str], QAOutcome],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """SQuAD-style answer quality on answerable rows, refusal rates per unanswerable kind,
    the refusal reasons, and answers that came out empty or looping."""
    tally = _QATally()
    for number, row in enumerate(rows, start=1):
        tally.add(row, answer(row.question))
        if progress is not None:
            progress(number, len(rows))
    return tally.report(rows)


@dataclass(slots=True)
class _QATally:
    # contains, em, f1, gold_recall, citation_hits, answered (answerable, not refused),
    # answered_citation_hits, false_refusals, empty_or_looping
    sums: collections.defaultdict[str, float] = field(
        default_factory=lambda: collections.defaultdict(float)
    )
    refused_by_kind: collections.Counter[str] = field(default_factory=collections.Counter)
    reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    latencies: list[float] = field(default_factory=list)

    def add(self, row: QARow, outcome: QAOutcome) -> None:
        self.latencies.append(outcome.latency_ms)
        if outcome.refused:
            self.reasons[outcome.refusal_reason or "unspecified"] += 1
            self.refused_by_kind[row.kind] += 1
        elif outcome.looped or not outcome.answer.strip():
            self.sums["empty_or_looping"] += 1
        if not row.answers:
            return
        if outcome.refused:
            self.sums["false_refusals"] += 1
        else:
            text = without_citations(outcome.answer)
            self.sums["contains"] += contains_gold(text, row.answers)
            self.sums["em"] += exact_match(text, row.answers)
            self.sums["f1"] += token_f1(text, row.answers)
        if row.doc_id is not None:
            cites_gold = row.doc_id in outcome.cited_doc_ids
            self.sums["gold_recall"] += row.doc_id in outcome.retrieved_doc_ids[:5]
            self.sums["citation_hits"] += cites_gold
            if not outcome.refused:
                self.sums["answered"] += 1
                self.sums["answered_citation_hits"] += cites_gold

    def report(self, rows: Sequence[QARow]) -> dict[str, Any]:
        kinds = collections.Counter(r.kind for r in rows)
        n = max(1, kinds["answerable"])

        def refusal_rate(kind: str) -> float | None:
            return round(self.refused_by_kind[kind] / kinds[kind], 4) if kinds[kind] else None

        return {
            "questions": len(rows),
            "answerable": kinds["answerable"],
            "off_topic": kinds["off_topic"],
            "on_topic_unanswerable": kinds["on_topic_unanswerable"],
            "answer_contains_gold": round(self.sums["contains"] / n, 4),
            "em": round(self.sums["em"] / n, 4),
            "f1": round(self.sums["f1"] / n, 4),
            "gold_passage_recall_at_5": round(self.sums["gold_recall"] / n, 4),
            # Over every answerable row, a refusal counting as a miss (the headline figure).
            "citation_accuracy": round(self.sums["citation_hits"] / n, 4),
            # Over the answers given: how often what was said cites the right passage.
            "citation_accuracy_answered": round(
                self.sums["answered_citation_hits"] / max(1, self.sums["answered"]), 4
            ),
            "refusal_rate_off_topic": refusal_rate("off_topic"),
            "refusal_rate_on_topic_unanswerable": refusal_rate("on_topic_unanswerable"),
            "false_refusal_rate": round(self.sums["false_refusals"] / n, 4),
            "refusal_reasons": dict(self.reasons.most_common()),
            "empty_or_looping_answers": int(self.sums["empty_or_looping"]),
            "latency_p50_ms": round(percentile(self.latencies, 50), 1),
            "latency_p95_ms": round(percentile(self.latencies, 95), 1),
        }
