"""Precision and recall of PII detection on a labelled set (pure, for the tests and the
bench): a finding is right when a gold entity of the same type overlaps it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rag.pii import Finding

Labelled = tuple[str, list[tuple[str, int, int]]]


def read_labelled(path: Path) -> list[Labelled]:
    """Rows ``{"text", "entities": [{"type", "text"}]}``; spans located in the text."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        spans = []
        for entity in row["entities"]:
            start = row["text"].index(entity["text"])
            spans.append((entity["type"], start, start + len(entity["text"])))
        rows.append((row["text"], spans))
    return rows


def precision_recall(
    rows: Sequence[Labelled], find: Callable[[str], list[Finding]]
) -> dict[str, Any]:
    """Per entity type and overall: true positives, false positives, false negatives,
    precision and recall."""
    counts: dict[str, Counter[str]] = {}
    for text, gold in rows:
        found = find(text)
        matched: set[int] = set()
        for finding in found:
            hit = next(
                (i for i, (kind, start, end) in enumerate(gold)
                 if kind == finding.entity and start < finding.end and finding.start < end
                 and i not in matched),
                None,
            )  # fmt: skip
            tally = counts.setdefault(finding.entity, Counter())
            if hit is None:
                tally["fp"] += 1
            else:
                matched.add(hit)
                tally["tp"] += 1
        for i, (kind, _, _) in enumerate(gold):
            if i not in matched:
                counts.setdefault(kind, Counter())["fn"] += 1
    report: dict[str, Any] = {kind: _scores(c) for kind, c in sorted(counts.items())}
    total: Counter[str] = Counter()
    for tally in counts.values():
        total.update(tally)
    report["all"] = _scores(total)
    return report


def _scores(tally: Counter[str]) -> dict[str, Any]:
    tp, fp, fn = tally["tp"], tally["fp"], tally["fn"]
    return {
        "tp": tp, "fp": fp, "fn": fn,
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall": round(tp / (tp + fn), 3) if tp + fn else None,
    }  # fmt: skip
