"""`rag documents list|show|delete` and `rag stats`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.common import JsonOption, context, err, fail, open_kb, out, print_json
from api.schemas import DocumentOut
from rag.errors import RagError
from rag.storage import store

DocumentIdArgument = Annotated[int, typer.Argument(help="Document id.")]

app = typer.Typer(help="List, show and delete stored documents.", no_args_is_help=True)


@app.command("list")
def documents_list(
    collection: Annotated[str | None, typer.Option("--collection", "-c")] = None,
    limit: Annotated[int, typer.Option(help="Maximum rows.")] = 1000,
    offset: Annotated[int, typer.Option(help="Rows to skip.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """List documents, optionally of one collection."""
    with open_kb() as kb, kb.read_session() as session:
        docs = store.list_documents(session, collection=collection, offset=offset, limit=limit)
        rows = [DocumentOut.from_row(d).model_dump(mode="json") for d in docs]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "collection", "title", "type", "source")
    for row in rows:
        table.add_row(
            str(row["id"]), row["collection"], row["title"][:40], row["mime_type"].split("/")[-1],
            row["source"],
        )  # fmt: skip
    out.print(table)


@app.command("show")
def documents_show(
    document_id: DocumentIdArgument,
    as_json: JsonOption = False,
) -> None:
    """Show one document and its chunks."""
    try:
        with open_kb() as kb, kb.read_session() as session:
            document = store.get_document(session, document_id=document_id)
            payload: dict[str, Any] = DocumentOut.from_row(
                document, chunks=len(document.chunks)
            ).model_dump(mode="json")
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
        raise fail(str(exc), code=1) from exc
    if as_json:
        print_json(payload)
        return
    for key in ("id", "collection", "title", "source", "mime_type", "size_bytes", "chunks"):
        out.print(f"[bold]{key}[/bold]: {payload[key]}")
    for chunk in payload["chunk_list"]:
        where = ", ".join(f"{k} {chunk[k]}" for k in ("page", "section") if chunk[k] is not None)
        suffix = f", {where}" if where else ""
        out.print(f"\n[bold]#{chunk['ordinal']}[/bold] ({chunk['tokens']} tokens{suffix})")
        out.print(chunk["text"][:300])


@app.command("delete")
def documents_delete(
    document_id: DocumentIdArgument,
    as_json: JsonOption = False,
) -> None:
    """Delete a document from the DB, the full-text index and FAISS."""
    try:
        with open_kb() as kb:
            kb.delete_document(document_id)
    except RagError as exc:
        raise fail(str(exc), code=1) from exc
    if as_json:
        print_json({"deleted": document_id})
    else:
        err.print(f"deleted document {document_id}")


def stats(as_json: JsonOption = False) -> None:
    """Counts of collections, documents, chunks and vectors."""
    with open_kb() as kb:
        result = kb.stats()
    payload = asdict(result)
    payload["data_dir"] = str(context.settings().data_dir.resolve())
    if as_json:
        print_json(payload)
        return
    for key, value in payload.items():
        if key != "per_collection":
            out.print(f"[bold]{key}[/bold]: {value}")
    for name, counts in result.per_collection.items():
        out.print(f"  {name}: {counts['documents']} documents, {counts['chunks']} chunks")
