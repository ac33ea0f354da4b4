"""Ingestion on Apache Spark (``rag ingest --engine spark``): the same pipeline as the local
engine, spread over executors.

* Listing runs in the executors (one task per path argument). A JSONL corpus is split into
  row ranges of ``rows_per_task`` documents, so one big file still spreads over executors.
* Loading, chunking and embedding run in the executors (``mapInPandas``); the embedding model,
  the chunker and the store connection are built once per executor Python process and reused
  by every task it runs (Spark reuses its Python workers).
* Each document is written through the store layer in its own transaction. A task that Spark
  retries (a crash, a lost executor) or runs twice (speculation) finds the documents its
  first attempt wrote unchanged (same content hash and pipeline signature) and skips them:
  nothing is duplicated or half-written. The driver's FAISS cache, like every other process's,
  catches up through the change log.
* The summary is computed on the driver from the store itself (fingerprints before and after),
  so it is right however many attempts a task took.

PySpark is an optional extra: ``pip install 'rag-backend[spark]'``; Spark needs Java 17+.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.ingestion import (
    FileError,
    Ingestor,
    IngestProgress,
    IngestSummary,
    PendingDocument,
    ProgressCallback,
    discover_files,
    prune_vanished,
)
from ingest.loaders import LoadedDocument, count_units, load_path
from rag.embedding import load_embedder
from rag.errors import DocumentError
from rag.pii import PiiMode
from rag.settings import Settings
from rag.spark import executor_settings_json, per_executor, spark_session
from rag.storage import store
from rag.storage.knowledge_base import KnowledgeBase

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

# A unit is rows [first, stop) of the documents a file yields (one for most formats, one per
# line of a JSONL corpus); a path that does not exist is the unit (path, MISSING, 0).
UNIT_SCHEMA = "path string, first long, stop long"
RESULT_SCHEMA = (
    "source string, status string, error string, message string, chunks long, "
    "embedded long, reused long"
)
MISSING = -1  # a unit's ``first`` for a path that does not exist


# --- executors ------------------------------------------------------------------------------


def plan_units(path: str, rows_per_task: int) -> list[tuple[str, int, int]]:
    """The (file, first, stop) work units of one path argument."""
    files, missing = discover_files([Path(path)])
    units = [(error.source, MISSING, 0) for error in missing]
    for file in files:
        rows = count_units(file)
        units += [
            (str(file), first, min(rows, first + rows_per_task))
            for first in range(0, rows, rows_per_task)
        ]
    return units


@dataclass(frozen=True, slots=True)
class FaultDrill:
    """Crash the Python worker of the first task attempt that writes ``after`` documents
    (creating ``marker`` first, so a test knows the crash happened, and so that only one
    task crashes): how the tests prove that a retried task leaves no duplicates. Whichever
    task gets there first, not a fixed partition: which units a partition holds depends on
    Spark's round-robin, and a partition with fewer documents never fired (CI, once)."""

    after: int
    marker: str

    def strike(self, written: int) -> None:
        """Exit the process at the ``after``-th document, unless another task got there
        first (the marker, created atomically, says so)."""
        if written != self.after:
            return
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        os._exit(3)  # as abrupt as a killed executor: no cleanup, no rollback


def _build_ingestor(settings: Settings) -> Ingestor:
    return Ingestor(KnowledgeBase(settings), load_embedder(settings.embedding), settings)


def _unit_documents(
    path: str, first: int, stop: int, max_bytes: int
) -> Iterator[LoadedDocument | DocumentError]:
    documents = load_path(Path(path), max_bytes=max_bytes)
    # The last unit of a file takes whatever follows too (the file may have grown).
    last = stop >= count_units(Path(path))
    yield from itertools.islice(documents, first, None if last else stop)


def ingest_partition(
    frames: Iterator[pd.DataFrame],
    *,
    settings_json: str,
    collection: str,
    drill: FaultDrill | None,
    pii: str = "off",
) -> Iterator[pd.DataFrame]:
    """``mapInPandas`` body: the units of one partition in, one row per document out."""
    import pandas as pd
    from pyspark import TaskContext

    ingestor = per_executor("ingestor", settings_json, _build_ingestor)
    max_bytes = ingestor.settings.ingest.max_file_bytes
    context = TaskContext.get()
    # A retried attempt never crashes: it is the one that must finish the work.
    drill_here = drill if context is not None and context.attemptNumber() == 0 else None
    written = 0
    for frame in frames:
        rows: list[dict[str, Any]] = []
        for path, first, stop in frame.itertuples(index=False):
            if first == MISSING:  # named as the local engine names it
                rows.append(_row(path, "failed", "NotFoundError", "no such file or directory"))
                continue
            items = list(_unit_documents(str(path), int(first), int(stop), max_bytes))
            sources = [item.source for item in items]
            with ingestor.kb.read_session() as session:
                known = store.document_fingerprints(session, collection=collection, sources=sources)
            pending: list[PendingDocument] = []
            for item in items:
                prepared = ingestor.prepare(item, known, pii=PiiMode(pii))
                if prepared is None:
                    rows.append(_row(item.source, "unchanged"))
                elif isinstance(prepared, FileError):
                    rows.append(_row(item.source, "failed", prepared.error, prepared.message))
                else:
                    pending.append(prepared)
            if not pending:
                continue
            counts = IngestSummary(collection=collection)
            embeddings = ingestor.embed(pending, counts)
            records = ingestor.records(pending, embeddings, collection)
            for record in records:
                ingestor.kb.store_documents([record])  # one transaction per document
                written += 1
                rows.append(_row(record.document.source, "written", chunks=len(record.chunks)))
                if drill_here is not None:
                    drill_here.strike(written)
            rows[-1]["embedded"] = counts.chunks_embedded
            rows[-1]["reused"] = counts.chunks_reused
        yield pd.DataFrame(rows, columns=[c.split()[0] for c in RESULT_SCHEMA.split(", ")])


def _row(
    source: str, status: str, error: str = "", message: str = "", *, chunks: int = 0
) -> dict[str, Any]:
    return {
        "source": source, "status": status, "error": error, "message": message,
        "chunks": chunks, "embedded": 0, "reused": 0,
    }  # fmt: skip


# --- the driver -----------------------------------------------------------------------------


def _watch_progress(
    spark: SparkSession, total: int, summary: IngestSummary, progress: ProgressCallback,
    stop: threading.Event,
) -> None:  # fmt: skip
    """Report finished tasks as a share of the documents (Spark reports tasks, not rows)."""
    tracker = spark.sparkContext.statusTracker()
    while not stop.wait(0.5):
        tasks = done = 0
        for stage_id in tracker.getActiveStageIds():
            info = tracker.getStageInfo(stage_id)
            if info is not None:
                tasks += info.numTasks
                done += info.numCompletedTasks
        if tasks:
            progress(IngestProgress(done=total * done // tasks, total=total, summary=summary))


def ingest_with_spark(
    settings: Settings,
    paths: Sequence[Path],
    *,
    collection: str | None = None,
    prune: bool = False,
    master: str | None = None,
    progress: ProgressCallback | None = None,
    drill: FaultDrill | None = None,
    pii: PiiMode | None = None,
) -> IngestSummary:
    """Ingest ``paths`` with Spark; the summary has the local engine's shape. ``pii`` as
    for the local engine."""
    started = time.perf_counter()
    collection = collection or settings.default_collection
    spark = spark_session(master or settings.spark.master)
    kb = KnowledgeBase(settings)
    try:
        embedder = load_embedder(settings.embedding)
        kb.ensure_embedding_model(embedder)
        pii_mode = Ingestor(kb, embedder, settings).pii_mode(collection, pii)
        with kb.write_session.begin() as session:
            # Made once here: executors writing their first documents at the same moment
            # raced to create it (PostgreSQL: a unique violation failed one task in CI).
            store.get_or_create_collection(session, name=collection)
        with kb.read_session() as session:
            before = store.document_fingerprints(session, collection=collection)
        context = spark.sparkContext
        arguments = [str(p.expanduser()) for p in paths]
        units = (
            context.parallelize(arguments, max(1, len(arguments)))
            .flatMap(partial(plan_units, rows_per_task=settings.spark.rows_per_task))
            .collect()
        )
        summary = IngestSummary(collection=collection)
        if units:
            total = sum(stop - first for _, first, stop in units)
            partitions = settings.spark.partitions or min(
                len(units), context.defaultParallelism * 2
            )
            frame = spark.createDataFrame(units, UNIT_SCHEMA).repartition(partitions)
            job = partial(
                ingest_partition, settings_json=executor_settings_json(settings),
                collection=collection, drill=drill, pii=str(pii_mode),
            )  # fmt: skip
            stop_watch = threading.Event()
            watcher = None
            if progress is not None:
                watcher = threading.Thread(
                    target=_watch_progress,
                    args=(spark, total, summary, progress, stop_watch),
                    daemon=True,
                )
                watcher.start()
            try:
                results = frame.mapInPandas(job, RESULT_SCHEMA).collect()
            finally:
                stop_watch.set()
                if watcher is not None:
                    watcher.join()
            _summarize(summary, results, kb, before)
        if prune:
            seen = {row.source for row in results} if units else set()
            roots = [str(p.expanduser().resolve()) for p in paths if p.exists()]
            summary.deleted = prune_vanished(kb, collection, roots, seen)
        kb.vectors()  # catch up with what the executors wrote, through the change log
        kb.save_vectors()
        summary.seconds = round(time.perf_counter() - started, 3)
        if progress is not None:
            done = summary.added + summary.updated + summary.unchanged + summary.failed
            progress(IngestProgress(done=done, total=done, summary=summary))
        return summary
    finally:
        kb.close()


def _summarize(
    summary: IngestSummary, results: Sequence[Any], kb: KnowledgeBase,
    before: dict[str, tuple[str, str]],
) -> None:  # fmt: skip
    """Counts from the store (before vs after), errors from the result rows."""
    with kb.read_session() as session:
        after = store.document_fingerprints(
            session, collection=summary.collection, sources=[r.source for r in results]
        )
    for row in results:
        if row.status == "failed":
            summary.failed += 1
            summary.errors.append(FileError(row.source, row.error, row.message))
        elif row.source not in before:
            summary.added += 1
        elif before[row.source] != after.get(row.source):
            summary.updated += 1
        else:
            summary.unchanged += 1
        summary.chunks_written += int(row.chunks)
        summary.chunks_embedded += int(row.embedded)
        summary.chunks_reused += int(row.reused)
