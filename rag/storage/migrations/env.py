"""Alembic environment: always run from ``rag.storage.schema`` with a connection handed in
(``config.attributes["connection"]``), never from a URL in an ini file."""

from __future__ import annotations

from alembic import context

from rag.storage.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
