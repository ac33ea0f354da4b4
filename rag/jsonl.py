"""The one JSONL reader: numbered rows, blank lines skipped, a bad line reported with its
number instead of ending the file."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class JsonlRow:
    line: int  # 1-based, counting blank lines
    value: Any = None
    error: str | None = None  # set when the line is not JSON


def iter_jsonl(lines: Iterable[str]) -> Iterator[JsonlRow]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield JsonlRow(number, json.loads(line))
        except json.JSONDecodeError as exc:
            yield JsonlRow(number, error=f"not JSON ({exc.msg})")


def read_jsonl_file(path: Path) -> Iterator[JsonlRow]:
    with open(path, encoding="utf-8") as fh:
        yield from iter_jsonl(fh)
