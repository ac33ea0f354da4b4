"""Background jobs (ingestion of uploads or server paths, batch Q&A) with state in the DB.

One worker thread runs jobs in order. On start-up every job left pending or running by a
previous process is resumed: ingestion is idempotent and batch items already answered are
skipped, so resuming never duplicates work or results.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import select

from api.answers import answer_payload, log_answer
from api.resources import Resources
from ingest.pipeline import UploadedFile
from rag.errors import RagError
from rag.filters import SearchFilter
from rag.models import BatchItem, IngestionJob, JobStatus

log = logging.getLogger(__name__)


class JobRunner:
    def __init__(
        self, resources: Resources, *, on_ingested: Callable[[int, int], None] | None = None
    ) -> None:
        self.resources = resources
        self.on_ingested = on_ingested
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-jobs")
        self._stopping = threading.Event()

    def submit(self, job_id: int) -> None:
        self._executor.submit(self._run, job_id)

    def resume_interrupted(self) -> list[int]:
        with self.resources.kb.read_session() as session:
            ids = list(
                session.scalars(
                    select(IngestionJob.id)
                    .where(IngestionJob.status.in_([JobStatus.PENDING, JobStatus.RUNNING]))
                    .order_by(IngestionJob.id)
                )
            )
        for job_id in ids:
            log.info("resuming interrupted job %s", job_id)
            self.submit(job_id)
        return ids

    def shutdown(self) -> None:
        self._stopping.set()
        self._executor.shutdown(wait=True, cancel_futures=True)

    # --- runners -------------------------------------------------------------------------

    def _run(self, job_id: int) -> None:
        with self.resources.kb.read_session() as session:
            job = session.get(IngestionJob, job_id)
            if job is None:
                return
            kind, params, collection = job.kind, dict(job.params), job.collection
        try:
            if kind == "ingest":
                self._run_ingest(job_id, params, collection)
            elif kind == "batch":
                self._run_batch(job_id, params)
            else:
                raise RuntimeError(f"unknown job kind '{kind}'")
        except Exception as exc:  # a job must end failed, never stay "running"
            log.exception("job %s failed", job_id)
            message = str(exc) if isinstance(exc, RagError) else f"{type(exc).__name__}: {exc}"
            self._finish(job_id, JobStatus.FAILED, error=message)

    def _run_ingest(self, job_id: int, params: dict[str, Any], collection: str) -> None:
        ingestor = self.resources.ingestor
        if "files" in params:
            uploads = []
            for entry in params["files"]:
                path = Path(entry["path"])
                data = path.read_bytes() if path.exists() else b""
                uploads.append(UploadedFile(name=entry["name"], data=data, source=entry["source"]))
            summary = ingestor.ingest_uploads(uploads, collection=collection, job_id=job_id)
        else:
            summary = ingestor.ingest_paths(
                [Path(p) for p in params.get("paths", [])],
                collection=collection,
                prune=bool(params.get("prune")),
                job_id=job_id,
            )
        if self.on_ingested is not None:
            self.on_ingested(summary.added + summary.updated, summary.failed)
        for entry in params.get("files", []):
            Path(entry["path"]).unlink(missing_ok=True)
        if params.get("files"):
            with contextlib.suppress(OSError):  # not empty: keep what is still there
                Path(params["files"][0]["path"]).parent.rmdir()

    def _run_batch(self, job_id: int, params: dict[str, Any]) -> None:
        kb = self.resources.kb
        with kb.write_session.begin() as session:
            job = session.get(IngestionJob, job_id)
            assert job is not None
            job.status = JobStatus.RUNNING
        scope = params.get("collections")
        search_filter = SearchFilter(collections=tuple(scope)) if scope else SearchFilter()
        max_tokens = params.get("max_tokens")
        while not self._stopping.is_set():
            with kb.read_session() as session:
                item = session.scalar(
                    select(BatchItem)
                    .where(
                        BatchItem.job_id == job_id,
                        BatchItem.result.is_(None),
                        BatchItem.error.is_(None),
                    )
                    .order_by(BatchItem.position)
                    .limit(1)
                )
            if item is None:
                break
            result: dict[str, Any] | None = None
            error: str | None = None
            try:
                answer = self.resources.pipeline.ask(
                    item.question, search_filter=search_filter, max_tokens=max_tokens
                )
                log_answer(kb, answer, endpoint="batch")
                result = {"id": item.question_id, **answer_payload(answer)}
            except RagError as exc:
                error = str(exc)
            with kb.write_session.begin() as session:
                row = session.get(BatchItem, item.id)
                assert row is not None
                row.result, row.error = result, error
                job = session.get(IngestionJob, job_id)
                assert job is not None
                job.done += 1
                if error is not None:
                    job.failed += 1
                    job.errors = [*job.errors, {"source": item.question_id, "message": error}]
        if not self._stopping.is_set():
            self._finish(job_id, JobStatus.SUCCEEDED)

    def _finish(self, job_id: int, status: JobStatus, *, error: str | None = None) -> None:
        with self.resources.kb.write_session.begin() as session:
            job = session.get(IngestionJob, job_id)
            if job is None:
                return
            job.status = status
            if error is not None:
                job.errors = [*job.errors, {"source": "job", "message": error}]
