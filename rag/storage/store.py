"""Database engine and repository functions (keyword-only arguments throughout)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    Integer,
    String,
    cast,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine.url import make_url
from sqlalchemy.orm import Session, sessionmaker

from rag.errors import ConflictError, NotFoundError
from rag.storage.models import Chunk, ChunkChange, Collection, Document, StoreState

GENERATION_KEY = "generation"
# Generations at or above the floor can be caught up from the change log; an older FAISS
# cache is rebuilt from the embeddings.
CHANGE_LOG_FLOOR_KEY = "change_log_floor"
# The number of chunks, kept by every write: readiness compares it with the FAISS cache
# without counting millions of rows (``rag doctor`` checks it against a real count).
CHUNK_COUNT_KEY = "chunk_count"
EMBEDDING_MODEL_KEY = "embedding_model"
EMBEDDING_DIM_KEY = "embedding_dim"
WRITE_OPTION = "rag_write_transaction"


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, emit BEGIN (see `_begin` below).
        dbapi_conn.isolation_level = None
        # WAL lets readers run during a write; synchronous=NORMAL is durable in WAL mode
        # except for the last transactions on power loss, never corrupting.
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # A deferred transaction that reads and then writes fails at once with "database is
        # locked" when another writer committed in between (busy_timeout cannot help);
        # writers therefore take the write lock up front. Readers stay deferred under WAL.
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def make_session_factory(engine: Engine, *, write: bool = False) -> sessionmaker[Session]:
    """Sessions for reading, or (``write=True``) sessions whose transactions start by
    taking SQLite's write lock."""
    bind = engine.execution_options(**{WRITE_OPTION: True}) if write else engine
    return sessionmaker(bind, expire_on_commit=False)


def make_snapshot_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Read sessions whose statements all see one snapshot (several reads that must agree:
    the generation, the chunk count and the change log). SQLite's read transaction already
    is one under WAL; PostgreSQL's default READ COMMITTED is not."""
    if engine.dialect.name == "postgresql":
        engine = engine.execution_options(isolation_level="REPEATABLE READ")
    return sessionmaker(engine, expire_on_commit=False)


# --- store state ------------------------------------------------------------------------


def get_state(session: Session, *, key: str) -> str | None:
    row = session.get(StoreState, key)
    return row.value if row is not None else None


PII_MODE_PREFIX = "pii_mode:"


def pii_modes(session: Session) -> dict[str, str]:
    """collection -> the PII mode it was ingested with (collections that chose one)."""
    rows = session.execute(
        select(StoreState.key, StoreState.value).where(StoreState.key.startswith(PII_MODE_PREFIX))
    ).all()
    return {str(k).removeprefix(PII_MODE_PREFIX): str(v) for k, v in rows}


def set_state(session: Session, *, key: str, value: str) -> None:
    row = session.get(StoreState, key)
    if row is None:
        session.add(StoreState(key=key, value=value))
    else:
        row.value = value


def current_generation(session: Session) -> int:
    value = get_state(session, key=GENERATION_KEY)
    return int(value) if value is not None else 0


def bump_generation(session: Session) -> int:
    """Increment the generation inside the caller's transaction and return the new value."""
    return _add_to_state(session, key=GENERATION_KEY, amount=1)


def _add_to_state(session: Session, *, key: str, amount: int) -> int:
    """Add to a numeric state value in one UPDATE (concurrent writers queue on its row)."""
    result = session.execute(
        update(StoreState)
        .where(StoreState.key == key)
        .values(value=cast(cast(StoreState.value, Integer) + amount, String))
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.add(StoreState(key=key, value=str(amount)))
        session.flush()
        return amount
    return int(get_state(session, key=key) or 0)


def counted_chunks(session: Session) -> int:
    value = get_state(session, key=CHUNK_COUNT_KEY)
    return int(value) if value is not None else 0


def reset_chunk_counter(session: Session) -> None:
    set_state(session, key=CHUNK_COUNT_KEY, value=str(chunk_count(session)))


def commit_changes(
    session: Session,
    *,
    added: Sequence[int] = (),
    removed: Sequence[int] = (),
    retain: int,
    log_covers: bool = True,
) -> int:
    """Bump the generation and log which chunk ids it added and removed, in the caller's
    transaction; forget generations older than ``retain``. ``log_covers=False`` (a change
    too large to replay, e.g. every vector re-embedded) moves the floor past it instead.
    The chunk counter moves by the ids added minus the ids removed (rows inserted and
    deleted by the caller; a re-embedded chunk is in both)."""
    generation = bump_generation(session)
    if len(added) != len(removed):
        _add_to_state(session, key=CHUNK_COUNT_KEY, amount=len(added) - len(removed))
    if log_covers:
        rows = [{"generation": generation, "chunk_id": i, "added": False} for i in removed]
        rows += [{"generation": generation, "chunk_id": i, "added": True} for i in added]
        if rows:
            session.execute(insert(ChunkChange), rows)
        floor = max(change_log_floor(session), generation - retain)
    else:
        floor = generation
    session.execute(delete(ChunkChange).where(ChunkChange.generation <= floor))
    set_state(session, key=CHANGE_LOG_FLOOR_KEY, value=str(floor))
    return generation


def change_log_floor(session: Session) -> int:
    value = get_state(session, key=CHANGE_LOG_FLOOR_KEY)
    return int(value) if value is not None else 0


def changed_chunk_ids(session: Session, *, after: int, upto: int) -> set[int] | None:
    """Every chunk id added or removed by generations ``after+1 .. upto``; None when the log
    no longer reaches back to ``after``."""
    if after < change_log_floor(session):
        return None
    return set(
        session.scalars(
            select(ChunkChange.chunk_id)
            .where(ChunkChange.generation > after, ChunkChange.generation <= upto)
            .distinct()
        )
    )


# --- collections --------------------------------------------------------------------------


def get_collection(session: Session, *, name: str) -> Collection:
    collection = session.scalar(select(Collection).where(Collection.name == name))
    if collection is None:
        raise NotFoundError(f"collection '{name}' does not exist")
    return collection


def get_or_create_collection(session: Session, *, name: str) -> Collection:
    collection = session.scalar(select(Collection).where(Collection.name == name))
    if collection is None:
        collection = Collection(name=name)
        session.add(collection)
        session.flush()
    return collection


def create_collection(session: Session, *, name: str) -> Collection:
    if session.scalar(select(Collection.id).where(Collection.name == name)) is not None:
        raise ConflictError(f"collection '{name}' already exists")
    return get_or_create_collection(session, name=name)


def list_collections(session: Session) -> list[Collection]:
    return list(session.scalars(select(Collection).order_by(Collection.name)))


def delete_collection_row(session: Session, *, collection_id: int) -> None:
    """Delete the (already emptied) collection row."""
    row = session.get(Collection, collection_id)
    if row is not None:
        session.delete(row)


# --- documents ----------------------------------------------------------------------------


def find_document(session: Session, *, collection_id: int, source: str) -> Document | None:
    return session.scalar(
        select(Document).where(Document.collection_id == collection_id, Document.source == source)
    )


def get_document(session: Session, *, document_id: int) -> Document:
    document = session.get(Document, document_id)
    if document is None:
        raise NotFoundError(f"document {document_id} does not exist")
    return document


def list_documents(
    session: Session, *, collection: str | None = None, offset: int = 0, limit: int | None = None
) -> list[Document]:
    stmt = select(Document).order_by(Document.id)
    if collection is not None:
        stmt = stmt.join(Collection).where(Collection.name == collection)
    stmt = stmt.offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def page_documents(
    session: Session,
    *,
    collection: str | None,
    visible: Sequence[str] | None,
    offset: int,
    limit: int,
) -> tuple[list[Document], int]:
    """One page of documents and the total, limited to ``visible`` collections (None: all)."""
    stmt = select(Document).join(Collection).order_by(Document.id)
    count = select(func.count(Document.id)).join(Collection)
    if collection is not None:
        stmt = stmt.where(Collection.name == collection)
        count = count.where(Collection.name == collection)
    if visible is not None:
        stmt = stmt.where(Collection.name.in_(list(visible)))
        count = count.where(Collection.name.in_(list(visible)))
    total = int(session.scalar(count) or 0)
    return list(session.scalars(stmt.offset(offset).limit(limit))), total


def document_ids_in(session: Session, *, collection_id: int) -> list[int]:
    return list(session.scalars(select(Document.id).where(Document.collection_id == collection_id)))


def document_fingerprints(
    session: Session, *, collection: str, sources: Sequence[str] | None = None
) -> dict[str, tuple[str, str]]:
    """source -> (content hash, pipeline signature) of the documents of ``collection`` (all,
    or those of ``sources``)."""
    query = (
        select(Document.source, Document.content_hash, Document.pipeline_signature)
        .join(Collection, Collection.id == Document.collection_id)
        .where(Collection.name == collection)
    )
    if sources is not None:
        query = query.where(Document.source.in_(list(sources)))
    rows = session.execute(query).all()
    return {str(r[0]): (str(r[1]), str(r[2])) for r in rows}


def documents_by_origin(
    session: Session, *, collection_id: int, origins: Sequence[str]
) -> list[tuple[int, str, str]]:
    """(id, source, origin) of the collection's documents read from the given origins."""
    rows = session.execute(
        select(Document.id, Document.source, Document.origin).where(
            Document.collection_id == collection_id
        )
    ).all()
    wanted = tuple(origins)
    return [
        (int(r[0]), str(r[1]), str(r[2]))
        for r in rows
        if any(r[2] == o or r[2].startswith(o.rstrip("/") + "/") for o in wanted)
    ]


def chunk_ids_of(session: Session, *, document_ids: Sequence[int]) -> list[int]:
    if not document_ids:
        return []
    return list(session.scalars(select(Chunk.id).where(Chunk.document_id.in_(list(document_ids)))))


def chunk_count_of(session: Session, *, document_id: int) -> int:
    return int(
        session.scalar(select(func.count(Chunk.id)).where(Chunk.document_id == document_id)) or 0
    )


def embeddings_by_chunk_hash(
    session: Session, *, hashes: Sequence[str], model: str, batch: int = 500
) -> dict[str, bytes]:
    """Stored embeddings of identical chunk texts made by ``model``."""
    found: dict[str, bytes] = {}
    wanted = sorted(set(hashes))
    for start in range(0, len(wanted), batch):
        rows = session.execute(
            select(Chunk.content_hash, Chunk.embedding).where(
                Chunk.content_hash.in_(wanted[start : start + batch]),
                Chunk.embedding_model == model,
            )
        ).all()
        found.update({str(h): bytes(e) for h, e in rows})
    return found


def sample_embeddings(session: Session, *, count: int) -> list[bytes]:
    """``count`` embeddings picked at random (to train an approximate index)."""
    return [
        bytes(e)
        for e in session.scalars(select(Chunk.embedding).order_by(func.random()).limit(count))
    ]


def chunk_embeddings(session: Session, *, chunk_ids: Sequence[int]) -> dict[int, bytes]:
    rows = session.execute(
        select(Chunk.id, Chunk.embedding).where(Chunk.id.in_(list(chunk_ids)))
    ).all()
    return {int(i): bytes(e) for i, e in rows}


def chunks_with_documents(
    session: Session, *, chunk_ids: Sequence[int]
) -> dict[int, tuple[Chunk, str, str, str]]:
    """chunk id -> (chunk, document source, document title, collection name)."""
    rows = session.execute(
        select(Chunk, Document.source, Document.title, Collection.name)
        .join(Document, Document.id == Chunk.document_id)
        .join(Collection, Collection.id == Document.collection_id)
        .where(Chunk.id.in_(list(chunk_ids)))
    ).all()
    return {row[0].id: (row[0], str(row[1]), str(row[2]), str(row[3])) for row in rows}


def get_chunk(session: Session, *, chunk_id: int) -> Chunk:
    chunk = session.get(Chunk, chunk_id)
    if chunk is None:
        raise NotFoundError(f"passage {chunk_id} does not exist")
    return chunk


def chunks_around(
    session: Session, *, document_id: int, first: int, last: int
) -> list[tuple[int, int, int, str]]:
    """(chunk id, ordinal, token count, text) of a document's chunks ``first..last``."""
    rows = session.execute(
        select(Chunk.id, Chunk.ordinal, Chunk.token_count, Chunk.text)
        .where(Chunk.document_id == document_id, Chunk.ordinal.between(first, last))
        .order_by(Chunk.ordinal)
    ).all()
    return [(int(r[0]), int(r[1]), int(r[2]), str(r[3])) for r in rows]


def chunk_sources(session: Session, *, chunk_ids: Sequence[int]) -> dict[int, str]:
    """chunk id -> its document's source."""
    rows = session.execute(
        select(Chunk.id, Document.source)
        .join(Document, Document.id == Chunk.document_id)
        .where(Chunk.id.in_(list(chunk_ids)))
    ).all()
    return {int(i): str(s) for i, s in rows}


def chunk_count(session: Session) -> int:
    return int(session.scalar(select(func.count(Chunk.id))) or 0)


def document_count(session: Session) -> int:
    return int(session.scalar(select(func.count(Document.id))) or 0)
