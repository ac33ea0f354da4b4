"""The one batch Q&A engine, used by `rag batch` (a JSONL file) and by batch jobs (DB rows).

Parsing gives per-row errors instead of failing the batch; answering skips what a sink
already holds, so a batch interrupted at any point resumes without repeating an answer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rag.answering.answers import Answer
from rag.errors import InvalidInputError, RagError
from rag.jsonl import iter_jsonl


@dataclass(frozen=True, slots=True)
class QuestionRow:
    id: str
    question: str


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def question_row(raw: Any, *, default_id: str) -> QuestionRow:
    """One row from a JSON value: a string, or ``{"question", "id"?}``."""
    if isinstance(raw, str):
        qid, text = default_id, raw
    elif isinstance(raw, dict) and isinstance(raw.get("question"), str):
        qid = default_id if raw.get("id") is None else str(raw["id"])
        text = raw["question"]
    else:
        raise InvalidInputError('expected a string or an object with a "question" string')
    if not text.strip():
        raise InvalidInputError("empty question")
    return QuestionRow(qid, text)


def parse_question_lines(lines: Iterable[str]) -> tuple[list[QuestionRow], list[RowError]]:
    """JSONL rows; a row without an id is named by its line number (1-based)."""
    rows: list[QuestionRow] = []
    errors: list[RowError] = []
    for row in iter_jsonl(lines):
        if row.error is not None:
            errors.append(RowError(row.line, row.error))
            continue
        try:
            rows.append(question_row(row.value, default_id=str(row.line)))
        except InvalidInputError as exc:
            errors.append(RowError(row.line, str(exc)))
    return rows, errors


def answer_record(question_id: str, answer: Answer) -> dict[str, Any]:
    """The result line of one answered question: its id and the whole answer."""
    return {"id": question_id, **asdict(answer)}


class BatchSink(Protocol):
    """Where results go; it knows which questions are already answered."""

    def answered_ids(self) -> set[str]: ...

    def write(self, row: QuestionRow, result: dict[str, Any] | None, error: str | None) -> None: ...


@dataclass(slots=True)
class BatchProgress:
    done: int
    total: int
    failed: int


@dataclass(slots=True)
class BatchSummary:
    questions: int
    skipped_already_answered: int
    answered: int = 0
    failed: int = 0
    stopped: bool = False
    errors: list[str] = field(default_factory=list)


def run_batch(
    rows: Sequence[QuestionRow],
    *,
    answer: Callable[[str], Answer],
    sink: BatchSink,
    progress: Callable[[BatchProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> BatchSummary:
    """Answer every row the sink does not hold yet, writing each result as it comes."""
    done_ids = sink.answered_ids()
    pending = [row for row in rows if row.id not in done_ids]
    summary = BatchSummary(questions=len(rows), skipped_already_answered=len(rows) - len(pending))
    for index, row in enumerate(pending, start=1):
        if should_stop is not None and should_stop():
            summary.stopped = True
            break
        try:
            sink.write(row, answer_record(row.id, answer(row.question)), None)
            summary.answered += 1
        except RagError as exc:
            sink.write(row, None, str(exc))
            summary.failed += 1
            summary.errors.append(f"{row.id}: {exc}")
        if progress is not None:
            progress(BatchProgress(done=index, total=len(pending), failed=summary.failed))
    return summary


class JsonlSink:
    """Appends one JSON line per question and fsyncs it, so a crash loses at most the line
    being written; a cut line is not counted as answered and is asked again."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def answered_ids(self) -> set[str]:
        if not self.path.exists():
            return set()
        ids: set[str] = set()
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                ids.add(str(json.loads(line)["id"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
        return ids

    def write(self, row: QuestionRow, result: dict[str, Any] | None, error: str | None) -> None:
        record = result if result is not None else {"id": row.id, "question": row.question,
                                                    "error": error}  # fmt: skip
        with open(self.path, "a+b") as sink:
            sink.seek(0, os.SEEK_END)
            if sink.tell() > 0:
                sink.seek(-1, os.SEEK_END)
                if sink.read(1) != b"\n":  # a line cut by a crash: start on a fresh line
                    sink.write(b"\n")
            sink.write((json.dumps(record, default=str) + "\n").encode("utf-8"))
            sink.flush()
            os.fsync(sink.fileno())
