"""Lexical (BM25) index over chunk text, kept in the same database as the chunks.

The index itself is created by the migrations, written in the chunks' own transactions:
* SQLite: an FTS5 external-content table fed by triggers, ranked by FTS5's ``bm25()``.
* PostgreSQL: ``chunk_terms``, one row per (lexeme, chunk) as ``to_tsvector`` makes them
  with the ``rag_english`` configuration (FTS5's Porter stemmer, PostgreSQL's English stop
  words), with the term frequency and the chunk's length, filled by a trigger. PostgreSQL's
  own ``ts_rank`` has no inverse document frequency, so the search computes Okapi BM25
  (k1 = 1.2, b = 0.75, Lucene's always-positive IDF) from the postings of the query's
  lexemes, read by primary-key range.

A crash can never leave the two disagreeing with the chunks.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Engine,
    Float,
    Integer,
    Select,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from rag.storage import store
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

    def indexed_count(self, session: Session) -> int | None:
        """Rows in a separately stored index; None when it lives in the chunk rows."""
        ...

    def rebuild(self, session: Session) -> None: ...


def filtered(
    stmt: Select[Any], chunk_id: ColumnElement[Any], where: ColumnElement[bool] | None
) -> Select[Any]:
    """``stmt`` (hits keyed by ``chunk_id``) limited to the chunks a search filter allows,
    through the chunk's document and collection (the tables filter clauses name)."""
    if where is None:
        return stmt
    return (
        stmt.join(Chunk, Chunk.id == chunk_id)
        .join(Document, Document.id == Chunk.document_id)
        .join(Collection, Collection.id == Document.collection_id)
        .where(where)
    )


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
        stmt = filtered(stmt, fts.c.rowid, where).order_by(rank).limit(k)
        rows = session.execute(stmt, {"match": match}).all()
        return [LexicalHit(chunk_id=int(r[0]), score=-float(r[1])) for r in rows]

    def indexed_ids(self, session: Session) -> set[int]:
        # For an external-content table, the docsize shadow table lists what is indexed.
        rows = session.execute(text(f"SELECT id FROM {self.table}_docsize")).all()
        return {int(r[0]) for r in rows}

    def indexed_count(self, session: Session) -> int | None:
        return int(session.execute(text(f"SELECT count(*) FROM {self.table}_docsize")).scalar_one())

    def rebuild(self, session: Session) -> None:
        session.execute(text(f"INSERT INTO {self.table}({self.table}) VALUES ('rebuild')"))


# Okapi BM25 from the postings of the query's lexemes: tf and the chunk's length (its token
# count, from the embedding tokenizer) are stored per posting; df is the number of postings.
_PG_BM25 = """
WITH terms AS (
    SELECT DISTINCT lexeme FROM unnest(to_tsvector('rag_english'::regconfig, :query))
), postings AS (
    SELECT p.lexeme, p.chunk_id, p.tf, p.chunk_tokens
    FROM chunk_terms AS p JOIN terms ON terms.lexeme = p.lexeme
), weights AS (
    SELECT lexeme, ln(1 + (:chunks - count(*) + 0.5) / (count(*) + 0.5)) AS idf
    FROM postings GROUP BY lexeme
)
SELECT p.chunk_id AS id, sum(
    w.idf * p.tf * 2.2 / (p.tf + 1.2 * (0.25 + 0.75 * p.chunk_tokens / :mean_tokens))
) AS score
FROM postings AS p JOIN weights AS w ON w.lexeme = p.lexeme
GROUP BY p.chunk_id
"""
# Corpus statistics change slowly; recounting them on every query would scan every chunk.
_STATS_MAX_AGE_S = 30.0


class PostgresTermIndex:
    def __init__(self) -> None:
        self._stats: tuple[int, float, float] | None = None  # generation, chunks, mean tokens
        self._stats_at = 0.0

    def _corpus_stats(self, session: Session) -> tuple[float, float]:
        """Chunk count and mean chunk length, recounted after a write at most every 30 s."""
        generation = store.current_generation(session)
        fresh = time.monotonic() - self._stats_at < _STATS_MAX_AGE_S
        if self._stats is None or (self._stats[0] != generation and not fresh):
            count, mean = session.execute(
                text("SELECT count(*), coalesce(avg(token_count), 1) FROM chunks")
            ).one()
            self._stats = (generation, float(count), float(mean))
            self._stats_at = time.monotonic()
        return self._stats[1], self._stats[2]

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
        chunks, mean_tokens = self._corpus_stats(session)
        scored = (
            text(_PG_BM25)
            .bindparams(query=" ".join(terms), chunks=chunks, mean_tokens=mean_tokens)
            .columns(column("id", Integer), column("score", Float))
            .subquery("bm25")
        )
        stmt = filtered(select(scored.c.id, scored.c.score), scored.c.id, where)
        rows = session.execute(stmt.order_by(scored.c.score.desc(), scored.c.id).limit(k)).all()
        return [LexicalHit(chunk_id=int(r[0]), score=float(r[1])) for r in rows]

    def indexed_ids(self, session: Session) -> set[int]:
        """Chunks with postings, and chunks whose text has no lexeme at all (nothing to
        index: stop words or punctuation only)."""
        rows = session.execute(
            text(
                "SELECT DISTINCT chunk_id FROM chunk_terms UNION SELECT id FROM chunks "
                "WHERE length(to_tsvector('rag_english'::regconfig, text)) = 0"
            )
        )
        return {int(r[0]) for r in rows}

    def indexed_count(self, session: Session) -> int | None:  # noqa: ARG002  (the protocol's)
        return None  # counting postings per chunk is no cheap probe; doctor checks the ids

    def rebuild(self, session: Session) -> None:
        session.execute(text("DELETE FROM chunk_terms"))
        session.execute(
            text(
                "INSERT INTO chunk_terms (lexeme, chunk_id, tf, chunk_tokens) "
                "SELECT t.lexeme, c.id, coalesce(cardinality(t.positions), 1), c.token_count "
                "FROM chunks AS c, unnest(to_tsvector('rag_english'::regconfig, c.text)) AS t"
            )
        )


def lexical_index_for(engine: Engine) -> LexicalIndex:
    if engine.dialect.name == "sqlite":
        return SqliteFts5Index()
    if engine.dialect.name == "postgresql":
        return PostgresTermIndex()
    raise NotImplementedError(
        f"no lexical index for database dialect '{engine.dialect.name}' (SQLite, PostgreSQL)"
    )
