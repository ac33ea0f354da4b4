"""Job rows and batch items: every query the job runner and the batch endpoints need."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rag.errors import NotFoundError
from rag.storage.models import BatchItem, Job, JobKind, JobStatus


def create_job(
    session: Session,
    *,
    kind: JobKind,
    collection: str,
    total: int = 0,
    params: dict[str, Any] | None = None,
) -> Job:
    job = Job(
        kind=kind, collection=collection, status=JobStatus.PENDING, total=total,
        params=params or {},
    )  # fmt: skip
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, *, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} does not exist")
    return job


def unfinished_job_ids(session: Session) -> list[int]:
    """Jobs a previous process left pending or running, oldest first."""
    return list(
        session.scalars(
            select(Job.id)
            .where(Job.status.in_([JobStatus.PENDING, JobStatus.RUNNING]))
            .order_by(Job.id)
        )
    )


def update_job(
    session: Session,
    *,
    job_id: int,
    status: JobStatus | None = None,
    total: int | None = None,
    done: int | None = None,
    failed: int | None = None,
    errors: list[dict[str, Any]] | None = None,
    summary: dict[str, Any] | None = None,
) -> None:
    job = session.get(Job, job_id)
    if job is None:
        return
    changes = {
        "status": status, "total": total, "done": done, "failed": failed, "errors": errors,
        "summary": summary,
    }  # fmt: skip
    for name, value in changes.items():
        if value is not None:
            setattr(job, name, value)


def append_job_error(session: Session, *, job_id: int, source: str, message: str) -> None:
    job = session.get(Job, job_id)
    if job is not None:
        job.errors = [*job.errors, {"source": source, "message": message}]


def add_batch_items(session: Session, *, job_id: int, rows: Sequence[tuple[str, str]]) -> None:
    """Store (question id, question) rows in input order."""
    session.add_all(
        BatchItem(job_id=job_id, position=position, question_id=qid, question=question)
        for position, (qid, question) in enumerate(rows)
    )


def unanswered_batch_items(session: Session, *, job_id: int) -> list[tuple[int, str, str]]:
    """(item id, question id, question) of the items with neither result nor error."""
    rows = session.execute(
        select(BatchItem.id, BatchItem.question_id, BatchItem.question)
        .where(
            BatchItem.job_id == job_id,
            BatchItem.result.is_(None),
            BatchItem.error.is_(None),
        )
        .order_by(BatchItem.position)
    ).all()
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def record_batch_item(
    session: Session, *, item_id: int, result: dict[str, Any] | None, error: str | None
) -> None:
    """Store one item's outcome and count it on its job, in the caller's transaction."""
    item = session.get(BatchItem, item_id)
    if item is None:
        return
    item.result, item.error = result, error
    job = session.get(Job, item.job_id)
    if job is None:
        return
    job.done += 1
    if error is not None:
        job.failed += 1
        job.errors = [*job.errors, {"source": item.question_id, "message": error}]


def batch_outputs(session: Session, *, job_id: int) -> Iterator[dict[str, Any]]:
    """Results (or errors) of a batch in input order; unanswered items are left out."""
    rows = session.scalars(
        select(BatchItem).where(BatchItem.job_id == job_id).order_by(BatchItem.position)
    )
    for row in rows:
        if row.result is not None:
            yield row.result
        elif row.error is not None:
            yield {"id": row.question_id, "error": row.error}
