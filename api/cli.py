"""The ``rag`` command line. Every reporting command takes ``--json`` for scripts; progress
bars and messages go to stderr so stdout stays machine-readable."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rag.errors import RagError
from rag.settings import Settings

app = typer.Typer(
    help="Local-first RAG backend: ingest documents, search them, ask grounded questions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
documents_app = typer.Typer(help="List, show and delete stored documents.", no_args_is_help=True)
app.add_typer(documents_app, name="documents")

err = Console(stderr=True)
out = Console()

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


class CliState:
    def __init__(self) -> None:
        self.data_dir: Path | None = None

    def settings(self) -> Settings:
        overrides: dict[str, Any] = {}
        if self.data_dir is not None:
            overrides["data_dir"] = self.data_dir
        return Settings(**overrides)


state = CliState()


@app.callback()
def main_options(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Data directory (overrides RAG_DATA_DIR).", show_default=False
        ),
    ] = None,
) -> None:
    state.data_dir = data_dir


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def _open_kb() -> Any:
    from rag.knowledge_base import KnowledgeBase

    return KnowledgeBase(state.settings())


# --- ingest ---------------------------------------------------------------------------------


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to ingest.")],
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="Target collection.")
    ] = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete documents whose source file disappeared.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Ingest files (txt, md, html, pdf, docx, BEIR jsonl) incrementally; exit 1 if any failed."""
    from ingest.pipeline import Ingestor, IngestProgress
    from rag import store
    from rag.embedder import load_embedder

    settings = state.settings()
    try:
        kb = _open_kb()
        embedder = load_embedder(settings.embedding)
        ingestor = Ingestor(kb, embedder, settings)
        name = collection or settings.default_collection
        with kb.write_session.begin() as session:
            job_id = store.create_job(session, kind="ingest", collection=name).id
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("docs · {task.fields[chunks]} chunks"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        with Progress(
            *columns, console=err, transient=as_json, disable=not err.is_terminal and as_json
        ) as bar:
            task = bar.add_task("ingesting", total=None, chunks=0)

            def on_progress(p: IngestProgress) -> None:
                bar.update(task, completed=p.done, total=p.total, chunks=p.chunks)

            summary = ingestor.ingest_paths(
                paths, collection=name, prune=prune, progress=on_progress, job_id=job_id
            )
    except RagError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        _print_json(summary.to_dict())
    else:
        err.print(
            f"added {summary.added}, updated {summary.updated}, unchanged {summary.unchanged}, "
            f"failed {summary.failed}, deleted {summary.deleted} "
            f"({summary.chunks_embedded} chunks embedded, {summary.chunks_reused} reused, "
            f"{summary.seconds:.1f}s)"
        )
        for error in summary.errors:
            err.print(f"[red]failed[/red] {error.source}: {error.message}")
    kb.close()
    if summary.failed:
        raise typer.Exit(1)


@app.command()
def reembed(as_json: JsonOption = False) -> None:
    """Re-embed every chunk with the configured embedding model (after a model change)."""
    from rag.embedder import load_embedder

    settings = state.settings()
    try:
        kb = _open_kb()
        embedder = load_embedder(settings.embedding)
        count = kb.reembed_all(embedder)
    except RagError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        _print_json({"chunks": count, "embedding_model": embedder.name})
    else:
        err.print(f"re-embedded {count} chunks with {embedder.name}")


# --- documents ------------------------------------------------------------------------------


def _document_dict(document: Any, *, chunks: int | None = None) -> dict[str, Any]:
    payload = {
        "id": document.id,
        "collection": document.collection.name,
        "source": document.source,
        "title": document.title,
        "mime_type": document.mime_type,
        "size_bytes": document.size_bytes,
        "content_hash": document.content_hash,
        "status": str(document.status),
        "metadata": document.metadata_,
        "created_at": document.created_at.isoformat(),
        "updated_at": document.updated_at.isoformat(),
    }
    if chunks is not None:
        payload["chunks"] = chunks
    return payload


@documents_app.command("list")
def documents_list(
    collection: Annotated[str | None, typer.Option("--collection", "-c")] = None,
    limit: Annotated[int, typer.Option(help="Maximum rows.")] = 1000,
    offset: Annotated[int, typer.Option(help="Rows to skip.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """List documents, optionally of one collection."""
    from sqlalchemy.orm import selectinload  # noqa: F401

    from rag import store

    kb = _open_kb()
    with kb.read_session() as session:
        docs = store.list_documents(session, collection=collection, offset=offset, limit=limit)
        rows = [_document_dict(d) for d in docs]
    kb.close()
    if as_json:
        _print_json(rows)
        return
    table = Table("id", "collection", "title", "type", "source")
    for row in rows:
        table.add_row(
            str(row["id"]), row["collection"], row["title"][:40], row["mime_type"].split("/")[-1],
            row["source"],
        )  # fmt: skip
    out.print(table)


@documents_app.command("show")
def documents_show(
    document_id: Annotated[int, typer.Argument(help="Document id.")],
    as_json: JsonOption = False,
) -> None:
    """Show one document and its chunks."""
    from rag import store

    kb = _open_kb()
    try:
        with kb.read_session() as session:
            document = store.get_document(session, document_id=document_id)
            payload = _document_dict(document, chunks=len(document.chunks))
            payload["chunk_list"] = [
                {
                    "id": c.id,
                    "ordinal": c.ordinal,
                    "tokens": c.token_count,
                    "char_start": c.char_start,
                    "char_end": c.char_end,
                    "page": c.page,
                    "section": c.section,
                    "text": c.text,
                }
                for c in document.chunks
            ]
    except RagError as exc:
        raise _fail(str(exc), code=1) from exc
    finally:
        kb.close()
    if as_json:
        _print_json(payload)
        return
    for key in ("id", "collection", "title", "source", "mime_type", "size_bytes", "chunks"):
        out.print(f"[bold]{key}[/bold]: {payload[key]}")
    for chunk in payload["chunk_list"]:
        where = ", ".join(f"{k} {chunk[k]}" for k in ("page", "section") if chunk[k] is not None)
        suffix = f", {where}" if where else ""
        out.print(f"\n[bold]#{chunk['ordinal']}[/bold] ({chunk['tokens']} tokens{suffix})")
        out.print(chunk["text"][:300])


@documents_app.command("delete")
def documents_delete(
    document_id: Annotated[int, typer.Argument(help="Document id.")],
    as_json: JsonOption = False,
) -> None:
    """Delete a document from the DB, the full-text index and FAISS."""
    kb = _open_kb()
    try:
        kb.delete_document(document_id)
    except RagError as exc:
        raise _fail(str(exc), code=1) from exc
    finally:
        kb.close()
    if as_json:
        _print_json({"deleted": document_id})
    else:
        err.print(f"deleted document {document_id}")


@app.command()
def stats(as_json: JsonOption = False) -> None:
    """Counts of collections, documents, chunks and vectors."""
    kb = _open_kb()
    result = kb.stats()
    kb.close()
    payload = asdict(result)
    payload["data_dir"] = str(state.settings().data_dir.resolve())
    if as_json:
        _print_json(payload)
        return
    for key, value in payload.items():
        if key != "per_collection":
            out.print(f"[bold]{key}[/bold]: {value}")
    for name, counts in result.per_collection.items():
        out.print(f"  {name}: {counts['documents']} documents, {counts['chunks']} chunks")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
