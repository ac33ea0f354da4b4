"""Lexical (BM25) index over chunk text, kept in the same database as the chunks.

On SQLite it is an FTS5 external-content table fed by triggers on ``chunks``: a chunk is
indexed or removed in the very transaction that writes or deletes it, so the two can never
disagree after a crash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Engine,
    Integer,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from rag.storage.models import Chunk, Collection, Document

_TOKEN = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class LexicalHit:
    chunk_id: int
    score: float  # higher is better (negated bm25)


class LexicalIndex(Protocol):
    def install(self, engine: Engine) -> None: ...

    def search(
        self,
        session: Session,
        *,
        query: str,
        k: int,
        where: ColumnElement[bool] | None = None,
    ) -> list[LexicalHit]: ...

    def indexed_ids(self, session: Session) -> set[int]: ...

    def rebuild(self, session: Session) -> None: ...


def fts_match_expression(query: str) -> str | None:
    """Turn free text into a safe FTS5 query: every word quoted, OR-ed (BM25 ranks them).

    Quoting neutralises FTS5 syntax (AND, NEAR, ``*``, ``:``, quotes) in user input.
    """
    terms = list(dict.fromkeys(t.lower() for t in _TOKEN.findall(query)))
    if not terms:
        return None
    return " OR ".join(f'"{t}"' for t in terms)


class SqliteFts5Index:
    table = "chunks_fts"

    def install(self, engine: Engine) -> None:
        statements = [
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {self.table} USING fts5("
            "text, content='chunks', content_rowid='id', "
            "tokenize='porter unicode61 remove_diacritics 2')",
            f"CREATE TRIGGER IF NOT EXISTS chunks_fts_ai AFTER INSERT ON chunks BEGIN "
            f"INSERT INTO {self.table}(rowid, text) VALUES (new.id, new.text); END",
            f"CREATE TRIGGER IF NOT EXISTS chunks_fts_ad AFTER DELETE ON chunks BEGIN "
            f"INSERT INTO {self.table}({self.table}, rowid, text) "
            f"VALUES ('delete', old.id, old.text); END",
            f"CREATE TRIGGER IF NOT EXISTS chunks_fts_au AFTER UPDATE OF text ON chunks BEGIN "
            f"INSERT INTO {self.table}({self.table}, rowid, text) "
            f"VALUES ('delete', old.id, old.text); "
            f"INSERT INTO {self.table}(rowid, text) VALUES (new.id, new.text); END",
        ]
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))

    def search(
        self,
        session: Session,
        *,
        query: str,
        k: int,
        where: ColumnElement[bool] | None = None,
    ) -> list[LexicalHit]:
        match = fts_match_expression(query)
        if match is None or k <= 0:
            return []
        fts = table(self.table, column("rowid", Integer))
        fts_name: ColumnElement[Any] = literal_column(self.table)
        rank = func.bm25(fts_name).label("rank")
        stmt = select(fts.c.rowid, rank).where(fts_name.op("MATCH")(bindparam("match")))
        if where is not None:
            stmt = (
                stmt.join(Chunk, Chunk.id == fts.c.rowid)
                .join(Document, Document.id == Chunk.document_id)
                .join(Collection, Collection.id == Document.collection_id)
                .where(where)
            )
        stmt = stmt.order_by(rank).limit(k)
        rows = session.execute(stmt, {"match": match}).all()
        return [LexicalHit(chunk_id=int(r[0]), score=-float(r[1])) for r in rows]

    def indexed_ids(self, session: Session) -> set[int]:
        # For an external-content table, the docsize shadow table lists what is indexed.
        rows = session.execute(text(f"SELECT id FROM {self.table}_docsize")).all()
        return {int(r[0]) for r in rows}

    def rebuild(self, session: Session) -> None:
        session.execute(text(f"INSERT INTO {self.table}({self.table}) VALUES ('rebuild')"))


def lexical_index_for(engine: Engine) -> LexicalIndex:
    if engine.dialect.name == "sqlite":
        return SqliteFts5Index()
    raise NotImplementedError(
        f"no lexical index for database dialect '{engine.dialect.name}' yet (SQLite only)"
    )
