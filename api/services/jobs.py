"""Background jobs (ingestion of uploads or server paths, batch Q&A) with their state in the
DB. The runner owns the job rows; the library it calls only reports progress.

One worker thread runs jobs in order. Each job is leased to the process that runs it
(``rag.storage.jobs``): a keeper thread renews the leases of this process's jobs and, on
start-up and then every few seconds, claims jobs whose owner stopped (another API process
that was killed, or this one before a restart) and resumes them: ingestion is idempotent and
batch items already answered are skipped, so resuming never duplicates work or results.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from api.resources import Resources
from api.services.answering import AnsweringService
from ingest.ingestion import IngestProgress, IngestSummary, UploadedFile
from rag.answering.batch import QuestionRow, run_batch
from rag.errors import RagError
from rag.pii import PiiMode
from rag.storage import jobs as job_rows
from rag.storage.filters import SearchFilter
from rag.storage.models import JobKind, JobStatus

log = logging.getLogger(__name__)

# Job rows are written at most this often while a job runs (plus at its end).
PROGRESS_INTERVAL_S = 0.5


class BatchItemSink:
    """Batch results go to the job's item rows, each with its job counters in one
    transaction."""

    def __init__(self, resources: Resources, job_id: int) -> None:
        self.kb = resources.kb
        self.job_id = job_id
        self._item_of: dict[int, int] = {}  # id() of a pending row -> its item row

    def pending_rows(self) -> list[QuestionRow]:
        with self.kb.read_session() as session:
            items = job_rows.unanswered_batch_items(session, job_id=self.job_id)
        rows = []
        for item_id, qid, text in items:
            row = QuestionRow(qid, text)
            self._item_of[id(row)] = item_id
            rows.append(row)
        return rows

    def answered_ids(self) -> set[str]:
        return set()  # pending_rows() already left the answered items out

    def write(self, row: QuestionRow, result: dict[str, Any] | None, error: str | None) -> None:
        with self.kb.write_session.begin() as session:
            job_rows.record_batch_item(
                session, item_id=self._item_of[id(row)], result=result, error=error
            )


class JobRunner:
    def __init__(
        self,
        resources: Resources,
        answering: AnsweringService,
        *,
        on_ingested: Callable[[int, int], None] | None = None,
    ) -> None:
        self.resources = resources
        self.answering = answering
        self.on_ingested = on_ingested
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-jobs")
        self._stopping = threading.Event()
        self.owner = job_rows.owner_id(uuid.uuid4().hex[:8])
        self._lease_s = resources.settings.store.job_lease_s
        self._active: set[int] = set()  # queued or running here, leases to renew
        self._active_lock = threading.Lock()
        self._keeper = threading.Thread(target=self._keep_leases, name="rag-job-leases")

    # --- submitting -------------------------------------------------------------------------

    def submit_ingest(self, *, collection: str, total: int, params: dict[str, Any]) -> int:
        """``params``: ``{"files": [{path, name, source}]}`` or ``{"paths": [...], "prune"}``."""
        with self.resources.kb.write_session.begin() as session:
            job_id = job_rows.create_job(
                session, kind=JobKind.INGEST, collection=collection, total=total, params=params,
                owner=self.owner,
            ).id  # fmt: skip
        self._submit(job_id)
        return job_id

    def submit_batch(
        self,
        rows: Sequence[QuestionRow],
        *,
        collection: str | None,
        scope: Sequence[str],
        max_tokens: int | None,
        key_id: int | None = None,
    ) -> int:
        params = {"collections": list(scope), "max_tokens": max_tokens, "key_id": key_id}
        with self.resources.kb.write_session.begin() as session:
            job = job_rows.create_job(
                session, kind=JobKind.BATCH, collection=collection or "", total=len(rows),
                params=params, owner=self.owner,
            )  # fmt: skip
            job_rows.add_batch_items(
                session, job_id=job.id, rows=[(r.id, r.question) for r in rows]
            )
            job_id = job.id
        self._submit(job_id)
        return job_id

    def _submit(self, job_id: int) -> bool:
        """Queue the job unless it is queued or running here already; True when queued."""
        with self._active_lock:
            if job_id in self._active:
                return False
            self._active.add(job_id)
        self._executor.submit(self._run, job_id)
        return True

    def start(self) -> list[int]:
        """Resume what stopped processes left behind, then keep leases and watch for more."""
        resumed = self.resume_interrupted()
        self._keeper.start()
        return resumed

    def resume_interrupted(self) -> list[int]:
        """Queue every unfinished job no live process holds (the claim happens when it
        runs, so two processes queueing the same job still run it once)."""
        with self.resources.kb.read_session() as session:
            ids = job_rows.claimable_job_ids(session, owner=self.owner, lease_s=self._lease_s)
        for job_id in ids:
            if self._submit(job_id):  # not again on every keeper tick while it waits
                log.info("resuming interrupted job %s", job_id)
        return ids

    def _keep_leases(self) -> None:
        while not self._stopping.wait(self._lease_s / 3):
            try:
                with self._active_lock:
                    active = sorted(self._active)
                with self.resources.kb.write_session.begin() as session:
                    job_rows.renew_leases(session, owner=self.owner, job_ids=active)
                self.resume_interrupted()
            except Exception:  # a database hiccup must not end the keeper
                log.exception("renewing job leases failed")

    def shutdown(self) -> None:
        self._stopping.set()
        if self._keeper.is_alive():
            self._keeper.join()
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self.resources.kb.write_session.begin() as session:
            job_rows.release_leases(session, owner=self.owner)

    # --- running ----------------------------------------------------------------------------

    def _run(self, job_id: int) -> None:
        try:
            self._run_claimed(job_id)
        finally:
            with self._active_lock:
                self._active.discard(job_id)

    def _run_claimed(self, job_id: int) -> None:
        with self.resources.kb.write_session.begin() as session:
            job = job_rows.claim_job(
                session, job_id=job_id, owner=self.owner, lease_s=self._lease_s
            )
            if job is None:  # finished meanwhile, or another process holds it
                return
            kind, params, collection = job.kind, dict(job.params), job.collection
        try:
            if kind is JobKind.INGEST:
                self._run_ingest(job_id, params, collection)
            else:
                self._run_batch(job_id, params)
        except Exception as exc:  # a job must end failed, never stay "running"
            log.exception("job %s failed", job_id)
            message = str(exc) if isinstance(exc, RagError) else f"{type(exc).__name__}: {exc}"
            with self.resources.kb.write_session.begin() as session:
                job_rows.update_job(session, job_id=job_id, status=JobStatus.FAILED)
                job_rows.append_job_error(session, job_id=job_id, source="job", message=message)

    def _update(self, job_id: int, **fields: Any) -> None:
        with self.resources.kb.write_session.begin() as session:
            job_rows.update_job(session, job_id=job_id, **fields)

    def _run_ingest(self, job_id: int, params: dict[str, Any], collection: str) -> None:
        ingestor = self.resources.ingestor
        last_write = 0.0

        def on_progress(p: IngestProgress) -> None:
            nonlocal last_write
            now = time.monotonic()
            if now - last_write >= PROGRESS_INTERVAL_S or p.done == p.total:
                last_write = now
                self._update(job_id, total=p.total, **_ingest_fields(p.summary, p.done))

        pii = PiiMode(params["pii"]) if params.get("pii") else None
        if "files" in params:
            uploads = []
            for entry in params["files"]:
                path = Path(entry["path"])
                data = path.read_bytes() if path.exists() else b""
                uploads.append(UploadedFile(name=entry["name"], data=data, source=entry["source"]))
            summary = ingestor.ingest_uploads(
                uploads, collection=collection, progress=on_progress, pii=pii
            )
        else:
            summary = ingestor.ingest_paths(
                [Path(p) for p in params.get("paths", [])],
                collection=collection,
                prune=bool(params.get("prune")),
                progress=on_progress,
                pii=pii,
            )
        done = summary.added + summary.updated + summary.unchanged + summary.failed
        self._update(job_id, status=JobStatus.SUCCEEDED, **_ingest_fields(summary, done))
        if self.on_ingested is not None:
            self.on_ingested(summary.added + summary.updated, summary.failed)
        for entry in params.get("files", []):
            Path(entry["path"]).unlink(missing_ok=True)
        if params.get("files"):
            with contextlib.suppress(OSError):  # not empty: keep what is still there
                Path(params["files"][0]["path"]).parent.rmdir()

    def _run_batch(self, job_id: int, params: dict[str, Any]) -> None:
        scope = params.get("collections")
        search_filter = SearchFilter(collections=tuple(scope)) if scope else SearchFilter()
        max_tokens = params.get("max_tokens")
        sink = BatchItemSink(self.resources, job_id)
        summary = run_batch(
            sink.pending_rows(),
            answer=lambda question: self.answering.answer_for_batch(
                question,
                search_filter=search_filter,
                max_tokens=max_tokens,
                key_id=params.get("key_id"),
            ),
            sink=sink,
            should_stop=self._stopping.is_set,
        )
        if not summary.stopped:
            self._update(job_id, status=JobStatus.SUCCEEDED)


def _ingest_fields(summary: IngestSummary, done: int) -> dict[str, Any]:
    return {
        "done": done,
        "failed": summary.failed,
        "errors": [asdict(e) for e in summary.errors],
        "summary": {k: v for k, v in summary.to_dict().items() if k != "errors"},
    }
