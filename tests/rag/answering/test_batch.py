"""The batch engine: per-row parse errors, resumable answering, failures kept per row.

The answer function is a stand-in: these tests are about the engine's bookkeeping; the real
model answers batches in tests/api/test_cli.py and tests.api.helpers.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.answering.answers import Answer
from rag.answering.batch import (
    JsonlSink,
    QuestionRow,
    parse_question_lines,
    question_row,
    run_batch,
)
from rag.errors import InvalidInputError


def fake_answer(question: str) -> Answer:
    if "explode" in question:
        raise InvalidInputError("the question is too long")
    return Answer(
        answer_id="x", question=question, standalone_question=question, answer=question.upper(),
        citations=[], grounded=False, refused=False, support_score=0.0,
        unsupported_sentences=[], retrieved_chunk_ids=[7, 8],
    )  # fmt: skip


def test_rows_are_parsed_with_an_error_per_bad_line() -> None:
    rows, errors = parse_question_lines(
        ['{"id": "a", "question": "one?"}', "", "{broken", '"two?"', '{"question": "  "}', "[1]"]
    )
    assert rows == [QuestionRow("a", "one?"), QuestionRow("4", "two?")]
    assert [e.line for e in errors] == [3, 5, 6]
    assert "not JSON" in str(errors[0]) and "empty question" in str(errors[1])


def test_a_row_that_is_no_question_is_invalid_input() -> None:
    for raw in ("  ", {"id": "x"}, 7):
        with pytest.raises(InvalidInputError):
            question_row(raw, default_id="1")


def test_a_list_position_names_a_row_without_an_id() -> None:
    assert question_row({"question": "q", "id": None}, default_id="3") == QuestionRow("3", "q")
    assert question_row({"question": "q", "id": 12}, default_id="3") == QuestionRow("12", "q")


def test_batch_resumes_without_repeating_and_keeps_failures(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "out.jsonl")
    rows = [QuestionRow("1", "a?"), QuestionRow("2", "explode?"), QuestionRow("3", "c?")]
    asked: list[str] = []

    def answer(question: str) -> Answer:
        asked.append(question)
        return fake_answer(question)

    first = run_batch(rows[:2], answer=answer, sink=sink)
    assert (first.answered, first.failed) == (1, 1)
    progress: list[tuple[int, int]] = []
    second = run_batch(
        rows, answer=answer, sink=sink, progress=lambda p: progress.append((p.done, p.total))
    )
    assert second.skipped_already_answered == 2 and second.answered == 1
    assert asked == ["a?", "explode?", "c?"]
    assert progress == [(1, 1)]
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == ["1", "2", "3"]
    assert lines[0]["retrieved_chunk_ids"] == [7, 8]  # the whole answer, one shape everywhere
    assert lines[1]["error"] == "the question is too long"


def test_a_line_cut_by_a_crash_is_asked_again(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "1", "answer": "A?"}\n{"id": "2", "ans')
    summary = run_batch(
        [QuestionRow("1", "a?"), QuestionRow("2", "b?")], answer=fake_answer, sink=JsonlSink(out)
    )
    assert summary.skipped_already_answered == 1 and summary.answered == 1
    assert JsonlSink(out).answered_ids() == {"1", "2"}  # the new line is not glued to the cut one


def test_stop_flag_ends_the_batch_between_questions(tmp_path: Path) -> None:
    calls = 0

    def stop() -> bool:
        return calls >= 1

    def answer(question: str) -> Answer:
        nonlocal calls
        calls += 1
        return fake_answer(question)

    rows = [QuestionRow(str(i), f"q{i}?") for i in range(3)]
    summary = run_batch(rows, answer=answer, sink=JsonlSink(tmp_path / "o.jsonl"), should_stop=stop)
    assert summary.stopped and summary.answered == 1
