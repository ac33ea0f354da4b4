"""Job status: progress, per-file errors and the summary of ingestion and batch jobs."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import Role
from api.deps import PrincipalDep, ResourcesDep
from api.schemas import JobOut, PathId
from rag.storage import jobs as job_rows
from rag.storage.models import JobKind

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: PathId, resources: ResourcesDep, principal: PrincipalDep) -> JobOut:
    with resources.kb.read_session() as session:
        job = job_rows.get_job(session, job_id=job_id)
        principal.require(job.collection, thing=f"job {job_id}")
        principal.require_role(Role.INGEST if job.kind is JobKind.INGEST else Role.ASK)
        return JobOut.model_validate(job, from_attributes=True)
