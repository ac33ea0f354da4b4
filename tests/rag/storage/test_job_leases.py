"""Job leases: exactly one process runs a job; a dead or silent owner's job is taken over."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import update

from rag.storage import jobs
from rag.storage.knowledge_base import KnowledgeBase
from rag.storage.models import Job, JobKind, JobStatus, utcnow
from tests.api.helpers import dead_process_owner

LEASE_S = 30.0


def new_job(kb: KnowledgeBase, owner: str) -> int:
    with kb.write_session.begin() as session:
        return jobs.create_job(session, kind=JobKind.INGEST, collection="c", owner=owner).id


def claim(kb: KnowledgeBase, job_id: int, owner: str) -> bool:
    with kb.write_session.begin() as session:
        return jobs.claim_job(session, job_id=job_id, owner=owner, lease_s=LEASE_S) is not None


def test_a_live_lease_is_respected_and_a_stale_one_taken_over(kb: KnowledgeBase) -> None:
    job_id = new_job(kb, "host-a:1:runner")
    assert not claim(kb, job_id, "host-b:2:runner")  # A renewed its lease just now
    assert claim(kb, job_id, "host-a:1:runner")  # the owner itself may (re)start it
    with kb.read_session() as session:
        assert jobs.claimable_job_ids(session, owner="host-b:2:runner", lease_s=LEASE_S) == []
    with kb.write_session.begin() as session:  # A stops renewing...
        session.execute(update(Job).values(heartbeat_at=utcnow() - timedelta(seconds=LEASE_S + 1)))
    with kb.read_session() as session:  # ...and B sees the job as its to resume
        assert jobs.claimable_job_ids(session, owner="host-b:2:runner", lease_s=LEASE_S) == [job_id]
    assert claim(kb, job_id, "host-b:2:runner")
    with kb.write_session.begin() as session:  # A's renewal no longer holds the job
        assert jobs.renew_leases(session, owner="host-a:1:runner", job_ids=[job_id]) == []
        assert jobs.renew_leases(session, owner="host-b:2:runner", job_ids=[job_id]) == [job_id]
        job = jobs.get_job(session, job_id=job_id)
        assert (job.owner, job.status) == ("host-b:2:runner", JobStatus.RUNNING)


def test_a_job_of_an_exited_local_process_is_claimable_at_once(kb: KnowledgeBase) -> None:
    job_id = new_job(kb, dead_process_owner())
    with kb.read_session() as session:
        assert jobs.claimable_job_ids(session, owner="me", lease_s=LEASE_S) == [job_id]
    assert claim(kb, job_id, "me")


def test_released_leases_and_finished_jobs(kb: KnowledgeBase) -> None:
    running, done = new_job(kb, "host-a:1:x"), new_job(kb, "host-a:1:x")
    with kb.write_session.begin() as session:
        jobs.update_job(session, job_id=done, status=JobStatus.SUCCEEDED)
        jobs.release_leases(session, owner="host-a:1:x")  # a clean shutdown
    with kb.read_session() as session:
        assert jobs.claimable_job_ids(session, owner="me", lease_s=LEASE_S) == [running]
    assert not claim(kb, done, "me")


def test_a_claim_waits_for_a_locked_row_and_then_reads_the_lease(
    kb: KnowledgeBase, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite serializes writers with BEGIN IMMEDIATE: there is no row lock")
    job_id = new_job(kb, "host-a:1:runner")
    with ThreadPoolExecutor(max_workers=2) as pool:
        # The owner's keeper renews the lease while its worker claims the job: the claim
        # must wait for the renewal, not give the job up (it would then run nowhere).
        with kb.write_session.begin() as renewal:
            jobs.renew_leases(renewal, owner="host-a:1:runner", job_ids=[job_id])
            owner_claim = pool.submit(claim, kb, job_id, "host-a:1:runner")
            time.sleep(0.5)
            assert not owner_claim.done()  # blocked on the renewal's row lock
        assert owner_claim.result(timeout=30)
        # Another process racing for the job waits for the winner, then sees its live lease.
        with kb.write_session.begin() as first:
            assert jobs.claim_job(first, job_id=job_id, owner="host-a:1:runner", lease_s=LEASE_S)
            rival_claim = pool.submit(claim, kb, job_id, "host-b:2:runner")
            time.sleep(0.5)
            assert not rival_claim.done()
        assert not rival_claim.result(timeout=30)
    with kb.read_session() as session:
        assert jobs.get_job(session, job_id=job_id).owner == "host-a:1:runner"


def test_own_unfinished_jobs_stay_claimable_by_their_owner(kb: KnowledgeBase) -> None:
    """A job its own process created but no longer has queued (e.g. a claim that failed on
    a database error) is found again by that process's keeper."""
    job_id = new_job(kb, "host-a:1:runner")
    with kb.read_session() as session:
        assert jobs.claimable_job_ids(session, owner="host-a:1:runner", lease_s=LEASE_S) == [job_id]
        assert jobs.claimable_job_ids(session, owner="host-b:2:runner", lease_s=LEASE_S) == []
