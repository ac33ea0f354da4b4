"""The ``rag`` command line, assembled from one module per command group. Every reporting
command takes ``--json`` for scripts; progress bars and messages go to stderr so stdout stays
machine-readable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli import admin, documents, evaluate, ingest, query, report
from api.cli.common import context

app = typer.Typer(
    help="Local-first RAG backend: ingest documents, search them, ask grounded questions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main_options(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Data directory (overrides RAG_DATA_DIR).", show_default=False
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="SQLAlchemy URL of the store, e.g. postgresql+psycopg://USER@HOST/DB "
            "(overrides RAG_DATABASE_URL; default: a SQLite file in the data directory).",
            show_default=False,
        ),
    ] = None,
) -> None:
    context.data_dir = data_dir
    context.database_url = database_url


for command in (
    ingest.ingest,
    ingest.reembed,
    documents.stats,
    query.search,
    query.ask,
    query.chat,
    query.batch,
    admin.serve,
    admin.llm_server,
    admin.doctor,
    report.report,
    report.audit,
):
    app.command()(command)
app.add_typer(documents.app, name="documents")
app.add_typer(evaluate.app, name="eval")
app.add_typer(admin.keys_app, name="keys")


def main() -> None:
    app()
