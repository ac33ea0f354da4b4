"""Documents: upload, ingest a server path, list, show, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile, status

from api.auth import Principal
from api.deps import AdminPrincipal, IngestPrincipal, JobsDep, ResourcesDep, SearchPrincipal, State
from api.schemas import (
    MAX_ID,
    DocumentOut,
    DocumentPage,
    IngestPathRequest,
    JobAccepted,
    PathId,
)
from api.services import audit
from api.services.uploads import checked_server_path, save_uploads
from rag.pii import PiiMode
from rag.storage import store
from rag.storage.knowledge_base import KnowledgeBase

router = APIRouter(prefix="/v1/documents", tags=["documents"])


@router.post(
    "", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted,
    summary="Upload one or many files; returns a job to poll",
)  # fmt: skip
async def upload_documents(
    state: State,
    principal: IngestPrincipal,
    files: Annotated[list[UploadFile], File(description="Files to ingest.")],
    collection: Annotated[str | None, Form()] = None,
    pii: Annotated[
        PiiMode | None,
        Form(description="The collection's PII mode from now on: off, detect or redact."),
    ] = None,
) -> JobAccepted:
    name = collection or state.settings.default_collection
    principal.require(name)
    entries = await save_uploads(files, state.settings)
    params: dict[str, Any] = {"files": entries, "pii": pii.value if pii else None}
    job_id = state.jobs.submit_ingest(collection=name, total=len(entries), params=params)
    audit.record(
        state.resources.kb, principal, "upload", collection=name, target=f"job {job_id}",
        detail={"files": [entry["source"] for entry in entries]},
    )  # fmt: skip
    return JobAccepted(job_id=job_id, status="pending", total=len(entries))


@router.post("/ingest-path", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted)
def ingest_server_path(
    body: IngestPathRequest, state: State, jobs: JobsDep, principal: IngestPrincipal
) -> JobAccepted:
    """Ingest a file or folder on the server, only under a configured `api.ingest_roots`."""
    name = body.collection or state.settings.default_collection
    principal.require(name)
    target, total = checked_server_path(body.path, state.settings)
    job_id = jobs.submit_ingest(
        collection=name, total=total, params={"paths": [str(target)], "prune": body.prune}
    )
    audit.record(
        state.resources.kb, principal, "ingest_path", collection=name, target=f"job {job_id}",
        detail={"path": str(target), "prune": body.prune},
    )  # fmt: skip
    return JobAccepted(job_id=job_id, status="pending", total=total)


@router.get("", response_model=DocumentPage)
def list_documents(
    resources: ResourcesDep,
    principal: SearchPrincipal,
    collection: str | None = None,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DocumentPage:
    if collection is not None:
        principal.require(collection)
    with resources.kb.read_session() as session:
        rows, total = store.page_documents(
            session, collection=collection, visible=principal.collections,
            offset=offset, limit=limit,
        )  # fmt: skip
        items = [DocumentOut.from_row(d) for d in rows]
    return DocumentPage(items=items, total=total, offset=offset, limit=limit)


def visible_document(kb: KnowledgeBase, principal: Principal, document_id: int) -> DocumentOut:
    with kb.read_session() as session:
        document = store.get_document(session, document_id=document_id)
        principal.require(document.collection.name, thing=f"document {document_id}")
        chunks = store.chunk_count_of(session, document_id=document_id)
        return DocumentOut.from_row(document, chunks=chunks)


@router.get("/{document_id}", response_model=DocumentOut)
def get_document(
    document_id: PathId, resources: ResourcesDep, principal: SearchPrincipal
) -> DocumentOut:
    return visible_document(resources.kb, principal, document_id)


@router.delete("/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_document(
    document_id: PathId, resources: ResourcesDep, principal: AdminPrincipal
) -> None:
    document = visible_document(resources.kb, principal, document_id)
    resources.kb.delete_document(document_id)
    audit.record(
        resources.kb, principal, "delete_document", collection=document.collection,
        target=str(document_id), detail={"source": document.source},
    )  # fmt: skip
