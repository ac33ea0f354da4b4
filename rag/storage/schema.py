"""Create or upgrade a store's schema with Alembic (both dialects, one migration history).

A store made by release 0.1.0 (tables created directly, no ``alembic_version``) is stamped
as revision 0001 and upgraded in place. Several processes may start against one PostgreSQL
database at once: the upgrade holds an advisory lock, so exactly one of them migrates.

Alembic is imported only when there is something to migrate: its import alone costs about
half a second, and every ``rag search`` opens the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from rag.storage.store import WRITE_OPTION

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest revision; checked first so an up-to-date store costs one SELECT (a test keeps
# it equal to the migration scripts' head).
HEAD = "0005"
BASELINE = "0001"
_ADVISORY_LOCK_KEY = 0x5241_4753  # "RAGS"


def alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def current_revision(connection: Connection) -> str | None:
    """The store's schema revision; None for an empty database or a 0.1.0 store."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _is_current(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version"))
            return version.scalar() == HEAD
    except DBAPIError:  # no such table: a new or a 0.1.0 store
        return False


def upgrade_schema(engine: Engine, *, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (the newest by default) in one transaction."""
    if revision == "head" and _is_current(engine):
        return
    from alembic import command

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
