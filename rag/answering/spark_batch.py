"""Batch Q&A on Apache Spark (``rag batch --engine spark``).

The questions the sink does not hold yet are answered in rounds: each round's questions are
partitioned across executors, where retrieval runs against the shared store and generation
goes to the LLM pool (``RAG_LLM__SERVERS``; without servers every executor process loads the
in-process model). The driver writes each round's results to the sink in input order, in the
local engine's format, so an interrupted batch resumes by id from the last finished round.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING

from rag.answering.answerer import Answerer
from rag.answering.batch import (
    BatchProgress,
    BatchSink,
    BatchSummary,
    QuestionRow,
    answer_record,
)
from rag.answering.llm_servers import load_generator
from rag.embedding import load_embedder
from rag.errors import RagError
from rag.retrieval.rerank import load_reranker
from rag.retrieval.retriever import Retriever
from rag.settings import Settings
from rag.spark import executor_settings_json, per_executor, spark_session
from rag.storage.filters import SearchFilter
from rag.storage.knowledge_base import KnowledgeBase

if TYPE_CHECKING:
    import pandas as pd

RESULT_SCHEMA = "position long, result string, error string"


def _build_answerer(settings: Settings) -> Answerer:
    """Store, embedder, retriever and LLM (the pool, or the in-process model)."""
    kb = KnowledgeBase(settings)
    embedder = load_embedder(settings.embedding)
    retriever = Retriever(
        kb, embedder, settings.retrieval, reranker=load_reranker(settings.retrieval)
    )
    return Answerer(
        retriever=retriever, llm=load_generator(settings.llm), embedder=embedder,
        settings=settings,
    )  # fmt: skip


def answer_partition(
    frames: Iterator[pd.DataFrame],
    *,
    settings_json: str,
    collections: Sequence[str],
    max_tokens: int | None,
) -> Iterator[pd.DataFrame]:
    """``mapInPandas`` body: (position, id, question) rows in, one result row each out."""
    import pandas as pd

    answerer = per_executor("answerer", settings_json, _build_answerer)
    scope = SearchFilter(collections=tuple(collections)) if collections else SearchFilter()
    for frame in frames:
        out = []
        for position, question_id, question in frame.itertuples(index=False):
            try:
                answer = answerer.ask(question, search_filter=scope, max_tokens=max_tokens)
                result, error = json.dumps(answer_record(question_id, answer), default=str), None
            except RagError as exc:
                result, error = None, str(exc)
            out.append({"position": position, "result": result, "error": error})
        yield pd.DataFrame(out, columns=["position", "result", "error"])


def run_batch_on_spark(
    settings: Settings,
    rows: Sequence[QuestionRow],
    *,
    sink: BatchSink,
    collections: Sequence[str] = (),
    max_tokens: int | None = None,
    master: str | None = None,
    progress: Callable[[BatchProgress], None] | None = None,
) -> BatchSummary:
    """Answer every row the sink does not hold yet; the local engine's summary."""
    done_ids = sink.answered_ids()
    pending = [row for row in rows if row.id not in done_ids]
    summary = BatchSummary(questions=len(rows), skipped_already_answered=len(rows) - len(pending))
    if not pending:
        return summary
    spark = spark_session(master or settings.spark.master)
    parallelism = spark.sparkContext.defaultParallelism
    round_size = settings.spark.questions_per_task * parallelism
    job = partial(
        answer_partition, settings_json=executor_settings_json(settings),
        collections=list(collections), max_tokens=max_tokens,
    )  # fmt: skip
    done = 0
    for start in range(0, len(pending), round_size):
        batch = pending[start : start + round_size]
        frame = spark.createDataFrame(
            [(i, row.id, row.question) for i, row in enumerate(batch)],
            "position long, id string, question string",
        ).repartition(min(len(batch), parallelism))
        results = sorted(frame.mapInPandas(job, RESULT_SCHEMA).collect(), key=lambda r: r[0])
        for result in results:
            row = batch[result.position]
            if result.error is None:
                sink.write(row, json.loads(result.result), None)
                summary.answered += 1
            else:
                sink.write(row, None, result.error)
                summary.failed += 1
                summary.errors.append(f"{row.id}: {result.error}")
        done += len(batch)
        if progress is not None:
            progress(BatchProgress(done=done, total=len(pending), failed=summary.failed))
    return summary
