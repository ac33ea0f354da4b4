"""Lexical (BM25) index over chunk text, kept in the same database as the chunks.

The index itself is created by the migrations, written in the chunks' own transactions:
* SQLite: an FTS5 external-content table fed by triggers, ranked by FTS5's ``bm25()``.
* PostgreSQL: a stored generated ``tsvector`` column with a GIN index. PostgreSQL's own
  ``ts_rank`` has no inverse document frequency, so the search computes Okapi BM25 itself
  (k1 = 1.2, b = 0.75, Lucene's always-positive IDF) from the tsvector's term positions:
  the GIN index finds the chunks holding any query term, and one index count per term
  gives its document frequency.

A crash can never leave the two disagreeing with the chunks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Engine,
    Float,
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


def query_terms(query: str) -> list[str]:
    """The distinct words of free text, lowercased, in order."""
    return list(dict.fromkeys(t.lower() for t in _TOKEN.findall(query)))


def fts_match_expression(query: str) -> str | None:
    """Turn free text into a safe FTS5 query: every word quoted, OR-ed (BM25 ranks them).

    Quoting neutralises FTS5 syntax (AND, NEAR, ``*``, ``:``, quotes) in user input.
    """
    terms = query_terms(query)
    if not terms:
        return None
    return " OR ".join(f'"{t}"' for t in terms)


class SqliteFts5Index:
    table = "chunks_fts"

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


# Okapi BM25 over the tsvector: tf = number of positions of a query lexeme in the chunk,
# document length = the chunk's token count (the embedding tokenizer's, stored at ingest).
_PG_BM25 = """
WITH terms AS (
    SELECT DISTINCT lexeme FROM unnest(to_tsvector('english'::regconfig, :query)) AS t
), stats AS (
    SELECT count(*)::float8 AS n, coalesce(avg(token_count), 1)::float8 AS avg_len FROM chunks
), weights AS (
    SELECT terms.lexeme, ln(1 + (stats.n - df.n + 0.5) / (df.n + 0.5)) AS idf
    FROM terms CROSS JOIN stats CROSS JOIN LATERAL (
        SELECT count(*)::float8 AS n FROM chunks
        WHERE text_search @@ quote_literal(terms.lexeme)::tsquery
    ) AS df
), candidates AS (
    SELECT chunks.id, chunks.token_count, chunks.text_search FROM chunks
    WHERE chunks.text_search @@ (
        SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery FROM terms
    )
)
SELECT c.id, sum(
    w.idf * cardinality(t.positions) * 2.2
    / (cardinality(t.positions) + 1.2 * (0.25 + 0.75 * c.token_count / stats.avg_len))
) AS score
FROM candidates AS c
CROSS JOIN stats
CROSS JOIN LATERAL unnest(c.text_search) AS t
JOIN weights AS w ON w.lexeme = t.lexeme
GROUP BY c.id
"""


class PostgresTsvectorIndex:
    def search(
        self,
        session: Session,
        *,
        query: str,
        k: int,
        where: ColumnElement[bool] | None = None,
    ) -> list[LexicalHit]:
        terms = query_terms(query)
        if not terms or k <= 0:
            return []
        scored = (
            text(_PG_BM25)
            .bindparams(query=" ".join(terms))
            .columns(column("id", Integer), column("score", Float))
            .subquery("bm25")
        )
        stmt = select(scored.c.id, scored.c.score)
        if where is not None:
            stmt = (
                stmt.join(Chunk, Chunk.id == scored.c.id)
                .join(Document, Document.id == Chunk.document_id)
                .join(Collection, Collection.id == Document.collection_id)
                .where(where)
            )
        rows = session.execute(stmt.order_by(scored.c.score.desc(), scored.c.id).limit(k)).all()
        return [LexicalHit(chunk_id=int(r[0]), score=float(r[1])) for r in rows]

    def indexed_ids(self, session: Session) -> set[int]:
        rows = session.execute(text("SELECT id FROM chunks WHERE text_search IS NOT NULL"))
        return {int(r[0]) for r in rows}

    def rebuild(self, session: Session) -> None:
        """Nothing to rebuild: the tsvector is a generated column of each chunk row."""


def lexical_index_for(engine: Engine) -> LexicalIndex:
    if engine.dialect.name == "sqlite":
        return SqliteFts5Index()
    if engine.dialect.name == "postgresql":
        return PostgresTsvectorIndex()
    raise NotImplementedError(
        f"no lexical index for database dialect '{engine.dialect.name}' (SQLite, PostgreSQL)"
    )
