"""How tests hand a store (data dir + database URL) to the CLI and to server processes."""

from __future__ import annotations

from rag.settings import Settings


def cli_args(settings: Settings) -> list[str]:
    """The global options that point ``rag`` at this store."""
    args = ["--data-dir", str(settings.data_dir)]
    if settings.database_url:
        args += ["--database-url", settings.database_url]
    return args


def env_vars(settings: Settings) -> dict[str, str]:
    """The environment that points a ``rag`` process at this store."""
    env = {"RAG_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["RAG_DATABASE_URL"] = settings.database_url
    return env
