"""Precision and recall of the PII detector on the labelled set in tests/data.

    python bench/pii.py

Per entity type and overall (with and without person names, which need a spaCy NER model
that does not ship offline). Prints JSON.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from rag.pii import shared_scanner
from rag.pii_eval import precision_recall, read_labelled

LABELLED = Path(__file__).resolve().parents[1] / "tests" / "data" / "pii_labelled.jsonl"


def main() -> None:
    rows = read_labelled(LABELLED)
    scanner = shared_scanner(cache_dir=Path(tempfile.mkdtemp()))
    with_names = precision_recall(rows, scanner.find)
    without_names = precision_recall(
        [(text, [g for g in gold if g[0] != "PERSON"]) for text, gold in rows], scanner.find
    )
    report = {
        "rows": len(rows),
        "entities": sum(len(gold) for _, gold in rows),
        "by_type": {k: v for k, v in with_names.items() if k != "all"},
        "all_types": with_names["all"],
        "without_person_names": without_names["all"],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
