"""Job rows and batch items: every query the job runner and the batch endpoints need.

Several API processes may share one store. A job is run by the process that holds its lease
(``owner`` + ``heartbeat_at``); claiming locks the row with ``SELECT ... FOR UPDATE`` on
PostgreSQL (SQLite's writers are serialized by ``BEGIN IMMEDIATE``) and then reads the lease,
so exactly one process wins. It waits for the lock rather than skipping a locked row: the
row is also locked for a moment by the owner's own lease renewal, and a skipped claim would
leave the job queued nowhere. A lease nobody renewed for ``lease_s`` seconds, or whose owner was a
process on this host that no longer exists, may be taken over: the job resumes elsewhere.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from rag.errors import NotFoundError
from rag.storage.models import BatchItem, Job, JobKind, JobStatus, as_utc, utcnow

UNFINISHED = (JobStatus.PENDING, JobStatus.RUNNING)


def owner_id(instance: str) -> str:
    """Who holds a lease: host, process id and a per-runner instance tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{instance}"


def _owner_is_gone(owner: str) -> bool:
    """True when ``owner`` was a process on this host that has exited."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0 only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, as another user's process
        pass
    return False


def create_job(
    session: Session,
    *,
    kind: JobKind,
    collection: str,
    owner: str,
    total: int = 0,
    params: dict[str, Any] | None = None,
) -> Job:
    """A pending job, leased from the start by the process that will run it."""
    job = Job(
        kind=kind, collection=collection, status=JobStatus.PENDING, total=total,
        params=params or {}, owner=owner, heartbeat_at=utcnow(),
    )  # fmt: skip
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, *, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} does not exist")
    return job


def claimable_job_ids(session: Session, *, owner: str, lease_s: float) -> list[int]:
    """Unfinished jobs ``owner`` may run, oldest first: its own (the caller skips those it
    has queued already) and those nobody else holds a live lease on."""
    stale = utcnow() - timedelta(seconds=lease_s)
    rows = session.execute(
        select(Job.id, Job.owner, Job.heartbeat_at)
        .where(Job.status.in_(UNFINISHED))
        .order_by(Job.id)
    ).all()
    return [
        int(job_id)
        for job_id, holder, beat in rows
        if holder in (None, owner) or _older(beat, stale) or _owner_is_gone(holder)
    ]


def claim_job(session: Session, *, job_id: int, owner: str, lease_s: float) -> Job | None:
    """Take the job's lease (and mark it running) unless another process holds a live one;
    None when the job is finished or held. Run in a write transaction."""
    job = session.scalar(
        select(Job).where(Job.id == job_id, Job.status.in_(UNFINISHED)).with_for_update()
    )
    if job is None:
        return None
    stale = utcnow() - timedelta(seconds=lease_s)
    holder = job.owner
    if holder not in (None, owner) and not (
        _older(job.heartbeat_at, stale) or _owner_is_gone(holder or "")
    ):
        return None
    job.owner, job.heartbeat_at, job.status = owner, utcnow(), JobStatus.RUNNING
    return job


def renew_leases(session: Session, *, owner: str, job_ids: Sequence[int]) -> list[int]:
    """Refresh the heartbeat of the owner's jobs; returns the ids it still holds."""
    if not job_ids:
        return []
    session.execute(
        update(Job)
        .where(Job.id.in_(list(job_ids)), Job.owner == owner, Job.status.in_(UNFINISHED))
        .values(heartbeat_at=utcnow())
    )
    return list(
        session.scalars(select(Job.id).where(Job.id.in_(list(job_ids)), Job.owner == owner))
    )


def release_leases(session: Session, *, owner: str) -> None:
    """Give up the owner's unfinished jobs (a clean shutdown): any process may resume them
    at once."""
    session.execute(
        update(Job)
        .where(Job.owner == owner, Job.status.in_(UNFINISHED))
        .values(owner=None, heartbeat_at=None)
    )


def _older(moment: datetime | None, than: datetime) -> bool:
    if moment is None:
        return True
    return as_utc(moment) < than


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
    """Store one item's outcome and count it on its job, in the caller's transaction. An
    item already answered is left as it is: two processes that both ran the job (one had
    stalled past its lease) count each answer once. The row lock orders them."""
    item = session.scalar(select(BatchItem).where(BatchItem.id == item_id).with_for_update())
    if item is None or item.result is not None or item.error is not None:
        return
    item.result, item.error = result, error
    if result is not None and result.get("answer_id"):
        item.answer_id = str(result["answer_id"])
    job = session.get(Job, item.job_id)
    if job is None:
        return
    job.done += 1
    if error is not None:
        job.failed += 1
        job.errors = [*job.errors, {"source": item.question_id, "message": error}]


def purge_finished_before(session: Session, *, moment: datetime) -> int:
    """Delete the jobs that ended before ``moment`` (batch questions and answers go with
    them, by foreign key); returns how many jobs."""
    result = session.execute(
        delete(Job).where(
            Job.status.in_((JobStatus.SUCCEEDED, JobStatus.FAILED)), Job.updated_at < moment
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


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
