"""`rag batch --engine spark`: questions answered in Spark executors (real Spark, local mode)
against the shared store, generation through a real llama.cpp server pool or the in-process
model; the output is the local engine's, and a batch resumes by id."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from rag.answering.answerer import Answerer
from rag.answering.batch import JsonlSink, QuestionRow, run_batch
from rag.answering.llm import LlamaCppLLM
from rag.answering.spark_batch import run_batch_on_spark
from rag.embedding import Embedder
from rag.retrieval.retriever import Retriever
from rag.settings import LLMSettings, Settings, SparkSettings
from rag.storage.knowledge_base import KnowledgeBase
from tests.llm_servers import LlamaServerProcess

pytestmark = pytest.mark.slow

MASTER = "local[2,3]"
TINY = LLMSettings(preset="tiny", max_tokens=48)
ROWS = [
    QuestionRow("q1", "What are the opening hours on Saturday?"),
    QuestionRow("q2", "How do I fix a flat tyre?"),
    QuestionRow("q3", "What is the capital of Mongolia?"),
    QuestionRow("q4", "How much does the bike service cost?"),
    QuestionRow("q5", "Who repairs the brakes?"),
]
# Differ on every run by design (a fresh id, the clock).
VOLATILE = {"answer_id", "timings"}


def comparable(path: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in line.items() if k not in VOLATILE} for line in lines]


def tiny_store(sample_store: Settings, llm: LLMSettings) -> Settings:
    return sample_store.model_copy(
        update={"llm": llm, "spark": SparkSettings(questions_per_task=2)}
    )


@pytest.fixture(scope="module")
def local_answers(
    tmp_path_factory: pytest.TempPathFactory, sample_store: Settings, embedder: Embedder
) -> Path:
    """The local engine's output for ROWS with the tiny model."""
    settings = tiny_store(sample_store, TINY)
    output = tmp_path_factory.mktemp("local-batch") / "answers.jsonl"
    with closing(KnowledgeBase(settings)) as kb:
        retriever = Retriever(kb, embedder, settings.retrieval)
        answerer = Answerer(
            retriever=retriever, llm=LlamaCppLLM(TINY), embedder=embedder, settings=settings
        )
        summary = run_batch(ROWS, answer=answerer.ask, sink=JsonlSink(output))
    assert summary.answered == len(ROWS)
    return output


@pytest.fixture(scope="module")
def sample_store(
    sample_stores: Callable[[str, pytest.FixtureRequest], Settings], request: pytest.FixtureRequest
) -> Settings:
    """The SQLite sample store, at module scope for ``local_answers``."""
    return sample_stores("sqlite", request)


def test_spark_batch_through_the_llm_pool_equals_the_local_engine(
    local_answers: Path, sample_store: Settings, tmp_path: Path
) -> None:
    with LlamaServerProcess(TINY) as server:
        settings = tiny_store(sample_store, TINY.model_copy(update={"servers": [server.url]}))
        output = tmp_path / "answers.jsonl"
        progress: list[int] = []
        summary = run_batch_on_spark(
            settings, ROWS, sink=JsonlSink(output), master=MASTER,
            progress=lambda p: progress.append(p.done),
        )  # fmt: skip
    assert (summary.answered, summary.failed) == (len(ROWS), 0)
    assert comparable(output) == comparable(local_answers)
    assert progress[-1] == len(ROWS) and len(progress) > 1  # one report per round


def test_spark_batch_resumes_by_id(
    local_answers: Path, sample_store: Settings, tmp_path: Path
) -> None:
    output = tmp_path / "answers.jsonl"
    first_two = local_answers.read_text().splitlines()[:2]
    output.write_text("\n".join(first_two) + "\n")  # an earlier run stopped here
    settings = tiny_store(sample_store, TINY)  # each executor loads the in-process model
    summary = run_batch_on_spark(settings, ROWS, sink=JsonlSink(output), master=MASTER)
    assert (summary.skipped_already_answered, summary.answered) == (2, len(ROWS) - 2)
    assert [line["id"] for line in comparable(output)] == [row.id for row in ROWS]
    assert comparable(output) == comparable(local_answers)
