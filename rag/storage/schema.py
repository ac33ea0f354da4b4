"""Create or upgrade a store's schema with Alembic (both dialects, one migration history).

A store made by release 0.1.0 (tables created directly, no ``alembic_version``) is stamped
as revision 0001 and upgraded in place. Several processes may start against one PostgreSQL
database at once: the upgrade holds an advisory lock, so exactly one of them migrates.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, inspect, text

from rag.storage.store import WRITE_OPTION

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest revision; checked first so an up-to-date store costs one SELECT (a test keeps
# it equal to the migration scripts' head).
HEAD = "0002"
BASELINE = "0001"
_ADVISORY_LOCK_KEY = 0x5241_4753  # "RAGS"


def alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_schema(engine: Engine, *, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (the newest by default) in one transaction."""
    with engine.connect() as probe:
        if revision == "head" and current_revision(probe) == HEAD:
            return
    # On SQLite the write option makes the transaction BEGIN IMMEDIATE: one migrator.
    with engine.execution_options(**{WRITE_OPTION: True}).begin() as connection:
        if connection.dialect.name == "postgresql":
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            connection.execute(lock, {"key": _ADVISORY_LOCK_KEY})
        config = alembic_config(connection)
        tables = set(inspect(connection).get_table_names())
        if "chunks" in tables and "alembic_version" not in tables:
            command.stamp(config, BASELINE)
        command.upgrade(config, revision)
