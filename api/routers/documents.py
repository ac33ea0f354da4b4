from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile, status
from sqlalchemy import func, select

from api.deps import PrincipalDep, ResourcesDep, State
from api.schemas import (
    MAX_ID,
    DocumentOut,
    DocumentPage,
    IngestPathRequest,
    JobAccepted,
    JobOut,
    PathId,
)
from ingest.loaders import count_units
from ingest.uploads import safe_upload_name, upload_source
from rag import store
from rag.errors import FileTooLargeError, InvalidInputError, NotFoundError, UnsupportedFileError
from rag.models import Chunk, Collection, Document

router = APIRouter(tags=["documents"])

READ_BLOCK = 1024 * 1024


def document_out(document: Document, chunks: int | None = None) -> DocumentOut:
    return DocumentOut(
        id=document.id,
        collection=document.collection.name,
        source=document.source,
        title=document.title,
        mime_type=document.mime_type,
        size_bytes=document.size_bytes,
        content_hash=document.content_hash,
        status=str(document.status),
        metadata=document.metadata_,
        chunks=chunks,
        created_at=document.created_at,
        updated_at=document.updated_at,
    )


@router.post(
    "/v1/documents", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted,
    summary="Upload one or many files; returns a job to poll",
)  # fmt: skip
async def upload_documents(
    state: State,
    principal: PrincipalDep,
    files: Annotated[list[UploadFile], File(description="Files to ingest.")],
    collection: Annotated[str | None, Form()] = None,
) -> JobAccepted:
    settings = state.settings
    name = collection or settings.default_collection
    principal.require(name)
    allowed = {t.lower() for t in settings.api.allowed_upload_types}
    prepared: list[tuple[UploadFile, str]] = []
    for upload in files:
        safe = safe_upload_name(upload.filename)
        suffix = Path(safe).suffix.lower()
        if suffix not in allowed:
            raise UnsupportedFileError(
                safe, f"type '{suffix or '(none)'}' is not accepted; allowed: {sorted(allowed)}"
            )
        prepared.append((upload, safe))
    job_dir = settings.uploads_dir / uuid.uuid4().hex
    job_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    seen: dict[str, int] = {}
    for index, (upload, safe) in enumerate(prepared):
        # Duplicate names in one upload would replace each other silently: suffix them.
        seen[safe] = seen.get(safe, 0) + 1
        source_name = (
            safe if seen[safe] == 1 else f"{Path(safe).stem} ({seen[safe]}){Path(safe).suffix}"
        )
        target = job_dir / f"{index:05d}"
        size = 0
        with open(target, "wb") as fh:
            while block := await upload.read(READ_BLOCK):
                size += len(block)
                if size > settings.api.max_upload_bytes:
                    fh.close()
                    for leftover in job_dir.iterdir():
                        leftover.unlink()
                    job_dir.rmdir()
                    raise FileTooLargeError(
                        safe, f"larger than the {settings.api.max_upload_bytes}-byte upload limit"
                    )
                fh.write(block)
            fh.flush()
            os.fsync(fh.fileno())
        entries.append(
            {"path": str(target), "name": source_name, "source": upload_source(source_name)}
        )
    kb = state.resources.kb
    with kb.write_session.begin() as session:
        job = store.create_job(session, kind="ingest", collection=name, total=len(entries))
        job.params = {"files": entries}
        job_id = job.id
    state.jobs.submit(job_id)
    return JobAccepted(job_id=job_id, status="pending", total=len(entries))


@router.post(
    "/v1/documents/ingest-path", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted
)
def ingest_server_path(
    body: IngestPathRequest, state: State, principal: PrincipalDep
) -> JobAccepted:
    """Ingest a file or folder on the server, only under a configured `api.ingest_roots`."""
    name = body.collection or state.settings.default_collection
    principal.require(name)
    target = Path(body.path).expanduser().resolve()
    roots = [Path(r).expanduser().resolve() for r in state.settings.api.ingest_roots]
    if not any(target == root or target.is_relative_to(root) for root in roots):
        raise InvalidInputError(
            "the path is outside the allowed ingest roots (configure RAG_API__INGEST_ROOTS)"
        )
    if not target.exists():
        raise NotFoundError(f"no such file or directory: {body.path}")
    total = (
        sum(count_units(p) for p in target.rglob("*") if p.is_file())
        if target.is_dir()
        else count_units(target)
    )
    with state.resources.kb.write_session.begin() as session:
        job = store.create_job(session, kind="ingest", collection=name, total=total)
        job.params = {"paths": [str(target)], "prune": body.prune}
        job_id = job.id
    state.jobs.submit(job_id)
    return JobAccepted(job_id=job_id, status="pending", total=total)


@router.get("/v1/documents", response_model=DocumentPage)
def list_documents(
    resources: ResourcesDep,
    principal: PrincipalDep,
    collection: str | None = None,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DocumentPage:
    if collection is not None:
        principal.require(collection)
    with resources.kb.read_session() as session:
        stmt = select(Document).join(Collection).order_by(Document.id)
        count = select(func.count(Document.id)).join(Collection)
        if collection is not None:
            stmt = stmt.where(Collection.name == collection)
            count = count.where(Collection.name == collection)
        if principal.collections is not None:
            stmt = stmt.where(Collection.name.in_(principal.collections))
            count = count.where(Collection.name.in_(principal.collections))
        total = int(session.scalar(count) or 0)
        rows = list(session.scalars(stmt.offset(offset).limit(limit)))
        items = [document_out(d) for d in rows]
    return DocumentPage(items=items, total=total, offset=offset, limit=limit)


def _visible_document(
    resources: ResourcesDep, principal: PrincipalDep, document_id: int
) -> DocumentOut:
    with resources.kb.read_session() as session:
        document = store.get_document(session, document_id=document_id)
        if not principal.can_see(document.collection.name):
            raise NotFoundError(f"document {document_id} does not exist")
        chunks = session.scalar(
            select(func.count(Chunk.id)).where(Chunk.document_id == document_id)
        )
        return document_out(document, chunks=int(chunks or 0))


@router.get("/v1/documents/{document_id}", response_model=DocumentOut)
def get_document(
    document_id: PathId, resources: ResourcesDep, principal: PrincipalDep
) -> DocumentOut:
    return _visible_document(resources, principal, document_id)


@router.delete("/v1/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_document(document_id: PathId, resources: ResourcesDep, principal: PrincipalDep) -> None:
    _visible_document(resources, principal, document_id)
    resources.kb.delete_document(document_id)


@router.get("/v1/jobs/{job_id}", response_model=JobOut, tags=["jobs"])
def get_job(job_id: PathId, resources: ResourcesDep, principal: PrincipalDep) -> JobOut:
    with resources.kb.read_session() as session:
        job = store.get_job(session, job_id=job_id)
        if not principal.can_see(job.collection):
            raise NotFoundError(f"job {job_id} does not exist")
        return JobOut(
            id=job.id, kind=job.kind, collection=job.collection, status=str(job.status),
            total=job.total, done=job.done, failed=job.failed, errors=list(job.errors),
            summary=dict(job.summary), created_at=job.created_at, updated_at=job.updated_at,
        )  # fmt: skip
