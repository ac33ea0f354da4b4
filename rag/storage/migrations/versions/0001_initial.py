"""The schema of the first release (0.1.0), with each dialect's full-text index.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _created_at() -> sa.Column[object]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "answer_log",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("standalone_question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("retrieved_chunk_ids", sa.JSON(), nullable=False),
        sa.Column("cited_chunk_ids", sa.JSON(), nullable=False),
        sa.Column("grounded", sa.Boolean(), nullable=False),
        sa.Column("refused", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Double(), nullable=False),
        sa.Column("endpoint", sa.String(64), nullable=False),
        _created_at(),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False, index=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("collections", sa.JSON(), nullable=False),
        _created_at(),
    )
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        _created_at(),
    )
    job_kind = sa.Enum("INGEST", "BATCH", name="jobkind", native_enum=False, length=16)
    job_status = sa.Enum(
        "PENDING", "RUNNING", "SUCCEEDED", "FAILED", name="jobstatus", native_enum=False,
        length=16,
    )  # fmt: skip
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", job_kind, nullable=False),
        sa.Column("collection", sa.String(200), nullable=False),
        sa.Column("status", job_status, nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        _created_at(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "store_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(1024), nullable=False),
    )
    op.create_table(
        "batch_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "job_id", sa.Integer(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.String(200), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("job_id", "position", name="uq_batch_item_position"),
    )
    document_status = sa.Enum("READY", name="documentstatus", native_enum=False, length=16)
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "collection_id",
            sa.Integer(),
            sa.ForeignKey("collections.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("source", sa.String(2048), nullable=False),
        sa.Column("origin", sa.String(2048), nullable=False, index=True),
        sa.Column("title", sa.String(1024), nullable=False),
        sa.Column("mime_type", sa.String(128), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("pipeline_signature", sa.String(64), nullable=False),
        sa.Column("status", document_status, nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        _created_at(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("collection_id", "source", name="uq_document_source"),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "answer_id",
            sa.String(32),
            sa.ForeignKey("answer_log.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        _created_at(),
    )
    op.create_table(
        "chunks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "document_id",
            sa.Integer(),
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column("char_start", sa.Integer(), nullable=False),
        sa.Column("char_end", sa.Integer(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("section", sa.String(1024), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=False, index=True),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("embedding_model", sa.String(256), nullable=False),
    )
    op.create_index("ix_chunks_document_ordinal", "chunks", ["document_id", "ordinal"])
    _create_full_text_index()


def _create_full_text_index() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        # An FTS5 external-content table fed by triggers: a chunk is indexed or removed in
        # the very transaction that writes or deletes it.
        for statement in (
            "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, content='chunks', "
            "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
            "CREATE TRIGGER IF NOT EXISTS chunks_fts_ai AFTER INSERT ON chunks BEGIN "
            "INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text); END",
            "CREATE TRIGGER IF NOT EXISTS chunks_fts_ad AFTER DELETE ON chunks BEGIN "
            "INSERT INTO chunks_fts(chunks_fts, rowid, text) "
            "VALUES ('delete', old.id, old.text); END",
            "CREATE TRIGGER IF NOT EXISTS chunks_fts_au AFTER UPDATE OF text ON chunks BEGIN "
            "INSERT INTO chunks_fts(chunks_fts, rowid, text) "
            "VALUES ('delete', old.id, old.text); "
            "INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text); END",
        ):
            op.execute(statement)
    elif dialect == "postgresql":
        # Words are stemmed with the original Porter algorithm, the one SQLite's FTS5 uses
        # (PostgreSQL's `english` uses Porter2, which also maps "yearly" to "year"), and
        # PostgreSQL's English stop words are dropped (they would make every query read
        # the postings of most chunks).
        op.execute(
            "CREATE TEXT SEARCH DICTIONARY rag_porter "
            "(TEMPLATE = snowball, Language = porter, StopWords = english)"
        )
        op.execute("CREATE TEXT SEARCH CONFIGURATION rag_english (COPY = simple)")
        op.execute(
            "ALTER TEXT SEARCH CONFIGURATION rag_english ALTER MAPPING FOR asciiword, word, "
            "numword, asciihword, hword, numhword, hword_asciipart, hword_part, hword_numpart "
            "WITH rag_porter"
        )
        # An inverted index of those lexemes, one row per (lexeme, chunk) with the term
        # frequency and the chunk's length: what BM25 needs, read by index range. A trigger
        # fills it in the chunk's own transaction and the foreign key empties it with the
        # chunk, so it cannot disagree with the text.
        op.execute(
            "CREATE TABLE chunk_terms ("
            "lexeme text NOT NULL, "
            "chunk_id integer NOT NULL REFERENCES chunks (id) ON DELETE CASCADE, "
            "tf integer NOT NULL, "
            "chunk_tokens integer NOT NULL, "
            "PRIMARY KEY (lexeme, chunk_id))"
        )
        op.execute("CREATE INDEX ix_chunk_terms_chunk_id ON chunk_terms (chunk_id)")
        op.execute(
            """CREATE FUNCTION chunk_terms_index() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM chunk_terms WHERE chunk_id = NEW.id;
    INSERT INTO chunk_terms (lexeme, chunk_id, tf, chunk_tokens)
    SELECT t.lexeme, NEW.id, coalesce(cardinality(t.positions), 1), NEW.token_count
    FROM unnest(to_tsvector('rag_english'::regconfig, NEW.text)) AS t;
    RETURN NULL;
END $$"""
        )
        op.execute(
            "CREATE TRIGGER chunk_terms_write AFTER INSERT OR UPDATE OF text, token_count "
            "ON chunks FOR EACH ROW EXECUTE FUNCTION chunk_terms_index()"
        )
    else:
        raise NotImplementedError(f"no full-text index for database dialect '{dialect}'")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS chunks_fts")
    else:
        op.execute("DROP TABLE IF EXISTS chunk_terms")
        op.execute("DROP FUNCTION IF EXISTS chunk_terms_index() CASCADE")
        op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS rag_english")
        op.execute("DROP TEXT SEARCH DICTIONARY IF EXISTS rag_porter")
    for name in (
        "chunks", "feedback", "documents", "batch_items", "store_state", "jobs", "collections",
        "api_keys", "answer_log",
    ):  # fmt: skip
        op.drop_table(name)
