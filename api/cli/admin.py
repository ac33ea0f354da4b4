"""`rag serve`, `rag llm-server`, `rag keys create` and `rag doctor`."""

from __future__ import annotations

import importlib.util
import os
from typing import Annotated

import typer

from api.auth import DEFAULT_ROLES, Role, create_key
from api.cli.common import (
    JsonOption,
    context,
    err,
    fail,
    open_kb,
    out,
    print_fields,
    print_json,
)
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


def llm_server(
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8081,
) -> None:
    """Serve the configured model (RAG_LLM__PRESET or RAG_LLM__MODEL_PATH) as one member of
    an LLM pool: llama-cpp-python's OpenAI-compatible server with the settings the pool
    expects. List its URL in RAG_LLM__SERVERS of the API processes."""
    from rag.answering.llm_servers import server_command
    from rag.bundled import use_offline_runtime

    if importlib.util.find_spec("starlette_context") is None:
        raise fail("the llama.cpp server is not installed: pip install 'rag-backend[server]'")
    use_offline_runtime()  # the server inherits OMP_WAIT_POLICY=PASSIVE and offline mode
    command = server_command(context.settings().llm, host=host, port=port)
    err.print(f"serving {command[4]} on http://{host}:{port}")
    os.execv(command[0], command)


@keys_app.command("create")
def keys_create(
    collections: Annotated[
        list[str] | None,
        typer.Option("--collection", "-c", help="Limit the key to these collections."),
    ] = None,
    roles: Annotated[
        list[Role] | None,
        typer.Option(
            "--role",
            "-r",
            help="What the key may do: search, ask, ingest, admin (implies all); repeatable. "
            "Default: search and ask.",
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create an API key (printed once; only its hash is stored). Once a key exists, the
    API requires one."""
    granted = list(roles or DEFAULT_ROLES)
    with open_kb() as kb, kb.write_session.begin() as session:
        row, token = create_key(session, collections=collections or [], name=name, roles=granted)
        key_id = row.id
    role_names = sorted(r.value for r in set(granted))
    if as_json:
        print_json(
            {"id": key_id, "key": token, "collections": collections or [], "roles": role_names}
        )
    else:
        out.print(token)
        err.print(
            f"key {key_id} created; roles: {', '.join(role_names)}; "
            f"scope: {', '.join(collections or []) or 'all collections'}"
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
