"""`rag serve`, `rag keys create` and `rag doctor`."""

from __future__ import annotations

from typing import Annotated

import typer

from api.auth import create_key
from api.cli.common import JsonOption, context, err, open_kb, out, print_fields, print_json
from rag.embedding import embedding_model_name, load_embedder
from rag.storage.doctor import diagnose, repair

keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    from api.app import create_app

    settings = context.settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_level="info",
    )


@keys_app.command("create")
def keys_create(
    collections: Annotated[
        list[str] | None,
        typer.Option("--collection", "-c", help="Limit the key to these collections."),
    ] = None,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create an API key (printed once; only its hash is stored). Once a key exists, the
    API requires one."""
    with open_kb() as kb, kb.write_session.begin() as session:
        row, token = create_key(session, collections=collections or [], name=name)
        key_id = row.id
    if as_json:
        print_json({"id": key_id, "key": token, "collections": collections or []})
    else:
        out.print(token)
        err.print(
            f"key {key_id} created; scope: {', '.join(collections or []) or 'all collections'}"
        )


def doctor(
    fix: Annotated[bool, typer.Option("--repair", help="Fix what is found.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Check DB, FTS and FAISS consistency, orphan chunks, embeddings and the embedding
    model; exit 0 only when consistent (after repairs, with --repair)."""
    settings = context.settings()
    with open_kb() as kb:
        report = diagnose(kb, configured_model=embedding_model_name(settings.embedding))
        if fix and not report.consistent:
            report = repair(kb, report, embedder=load_embedder(settings.embedding))
    payload = report.to_dict()
    if as_json:
        print_json(payload)
    else:
        print_fields(payload)
    if not report.consistent:
        raise typer.Exit(1)
