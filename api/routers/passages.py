"""`/v1/passages/{chunk_id}`: a cited passage with its document and neighbouring text, for a
client that shows where a citation points."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ResourcesDep, SearchPrincipal
from api.schemas import PassageOut, PathId
from rag.storage import store

router = APIRouter(prefix="/v1/passages", tags=["passages"])


@router.get("/{chunk_id}", response_model=PassageOut)
def get_passage(
    chunk_id: PathId, resources: ResourcesDep, principal: SearchPrincipal
) -> PassageOut:
    with resources.kb.read_session() as session:
        chunk = store.get_chunk(session, chunk_id=chunk_id)
        document = chunk.document
        principal.require(document.collection.name, thing=f"passage {chunk_id}")
        around = store.chunks_around(
            session, document_id=document.id, first=chunk.ordinal - 1, last=chunk.ordinal + 1
        )
        before = next((text for _, ordinal, _, text in around if ordinal < chunk.ordinal), "")
        after = next((text for _, ordinal, _, text in around if ordinal > chunk.ordinal), "")
        return PassageOut(
            chunk_id=chunk.id, document_id=document.id, collection=document.collection.name,
            title=document.title, source=document.source, section=chunk.section,
            page=chunk.page, char_start=chunk.char_start, char_end=chunk.char_end,
            text=chunk.text, before=before, after=after,
        )  # fmt: skip
