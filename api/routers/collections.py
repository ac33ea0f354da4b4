"""Collections: create, list with counts, delete with everything in them."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import AdminPrincipal, ResourcesDep, SearchPrincipal
from api.schemas import CollectionCreate, CollectionOut
from api.services import audit
from rag.storage import store

router = APIRouter(prefix="/v1/collections", tags=["collections"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CollectionOut)
def create_collection(
    body: CollectionCreate, resources: ResourcesDep, principal: AdminPrincipal
) -> CollectionOut:
    principal.require(body.name)
    with resources.kb.write_session.begin() as session:
        row = store.create_collection(session, name=body.name)
        created = CollectionOut(name=row.name, documents=0, chunks=0, created_at=row.created_at)
    audit.record(resources.kb, principal, "create_collection", collection=body.name)
    return created


@router.get("", response_model=list[CollectionOut])
def list_collections(resources: ResourcesDep, principal: SearchPrincipal) -> list[CollectionOut]:
    stats = resources.kb.stats().per_collection
    with resources.kb.read_session() as session:
        rows = store.list_collections(session)
    return [
        CollectionOut(
            name=row.name,
            documents=stats.get(row.name, {}).get("documents", 0),
            chunks=stats.get(row.name, {}).get("chunks", 0),
            created_at=row.created_at,
        )
        for row in rows
        if principal.can_see(row.name)
    ]


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_collection(name: str, resources: ResourcesDep, principal: AdminPrincipal) -> None:
    principal.require(name)
    resources.kb.delete_collection(name)
    audit.record(resources.kb, principal, "delete_collection", collection=name)
