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
eval_app = typer.Typer(help="Measure retrieval and answer quality.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

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


# --- search and answers ---------------------------------------------------------------------


FilterOption = Annotated[
    list[str] | None,
    typer.Option(
        "--filter",
        "-f",
        help="KEY=VALUE; keys: collection, document_id, source_prefix, source_glob, "
        "updated_after, updated_before, meta.NAME. Repeatable.",
    ),
]
CollectionOption = Annotated[
    str | None, typer.Option("--collection", "-c", help="Only this collection.")
]


def _search_filter(filters: list[str] | None, collection: str | None) -> Any:
    from rag.filters import parse_filter_args

    pairs = list(filters or [])
    if collection:
        pairs.append(f"collection={collection}")
    return parse_filter_args(pairs)


def _resources() -> Any:
    from api.resources import Resources

    return Resources(state.settings())


def _hit_dict(hit: Any) -> dict[str, Any]:
    return asdict(hit)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=1000, help="Results.")] = 5,
    mode: Annotated[str, typer.Option(help="dense, lexical or hybrid.")] = "hybrid",
    filters: FilterOption = None,
    collection: CollectionOption = None,
    documents: Annotated[
        bool, typer.Option("--documents", help="One result per document (its best chunk).")
    ] = False,
    mmr: Annotated[bool, typer.Option("--mmr", help="Diversify results (MMR).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Ranked passages for a query (hybrid BM25 + dense by default)."""
    from rag.retriever import best_per_document

    resources = _resources()
    try:
        search_filter = _search_filter(filters, collection)
        fetch = k * 5 if documents else k
        result = resources.retriever.search(
            query, k=fetch, mode=mode, search_filter=search_filter, mmr=mmr
        )
    except RagError as exc:
        raise _fail(str(exc)) from exc
    finally:
        resources.close()
    hits = best_per_document(result.hits, k) if documents else result.hits
    if as_json:
        _print_json(
            {
                "query": query,
                "mode": str(result.mode),
                "retrieval_ms": result.retrieval_ms,
                "hits": [_hit_dict(h) for h in hits],
            }
        )
        return
    for rank, hit in enumerate(hits, start=1):
        where = " · ".join(x for x in (hit.section, f"page {hit.page}" if hit.page else None) if x)
        out.print(
            f"[bold]{rank}. {hit.title}[/bold] ({hit.fused_score:.4f}) {hit.source}"
            + (f" — {where}" if where else "")
        )
        out.print("   " + " ".join(hit.text.split())[:240])
    err.print(f"{len(hits)} results in {result.retrieval_ms:.0f} ms ({result.mode})")


def _answer_dict(answer: Any) -> dict[str, Any]:
    return asdict(answer)


def _print_answer(answer: Any, *, streamed: bool) -> None:
    if not streamed:
        out.print(answer.answer)
    else:
        out.print()
    for citation in answer.citations:
        where = ", ".join(
            x for x in (citation.section, f"page {citation.page}" if citation.page else None) if x
        )
        label = " (inferred)" if citation.inferred else ""
        out.print(
            f"  [{citation.number}] {citation.title} — {citation.source}"
            + (f" ({where})" if where else "")
            + label
        )
    status = "refused" if answer.refused else ("grounded" if answer.grounded else "NOT grounded")
    err.print(
        f"{status}; support {answer.support_score:.2f}; "
        + ", ".join(f"{k} {v}" for k, v in answer.timings.items())
    )


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    stream: Annotated[bool, typer.Option("--stream", help="Print tokens as they come.")] = False,
    filters: FilterOption = None,
    collection: CollectionOption = None,
    k: Annotated[int | None, typer.Option("--k", "-k", min=1, max=50, help="Sources.")] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="Answer tokens.")] = None,
    as_json: JsonOption = False,
) -> None:
    """A grounded, cited answer from the documents (refuses when they hold none)."""
    from rag.pipeline import FinalEvent, TokenEvent

    resources = _resources()
    try:
        search_filter = _search_filter(filters, collection)
        answer = None
        for event in resources.pipeline.stream(
            question, search_filter=search_filter, k=k, max_tokens=max_tokens
        ):
            if isinstance(event, TokenEvent) and stream:
                if as_json:
                    sys.stdout.write(json.dumps({"event": "token", "text": event.text}) + "\n")
                else:
                    out.print(event.text, end="", soft_wrap=True, highlight=False, markup=False)
                sys.stdout.flush()
            elif isinstance(event, FinalEvent):
                answer = event.answer
    except RagError as exc:
        raise _fail(str(exc)) from exc
    finally:
        resources.close()
    assert answer is not None
    if as_json:
        payload = _answer_dict(answer)
        if stream:
            sys.stdout.write(json.dumps({"event": "final", **payload}, default=str) + "\n")
        else:
            _print_json(payload)
        return
    _print_answer(answer, streamed=stream)


@app.command()
def chat(
    filters: FilterOption = None,
    collection: CollectionOption = None,
) -> None:
    """Interactive questions with conversation history (empty line or /exit ends)."""
    from rag.generator import ChatMessage
    from rag.pipeline import FinalEvent, TokenEvent

    resources = _resources()
    history: list[ChatMessage] = []
    try:
        search_filter = _search_filter(filters, collection)
        while True:
            try:
                question = input("you> ").strip()
            except EOFError:
                break
            if not question or question in {"/exit", "/quit"}:
                break
            out.print("rag> ", end="")
            answer = None
            try:
                for event in resources.pipeline.stream(
                    question, search_filter=search_filter, history=history
                ):
                    if isinstance(event, TokenEvent):
                        out.print(event.text, end="", highlight=False, markup=False)
                    elif isinstance(event, FinalEvent):
                        answer = event.answer
            except RagError as exc:
                err.print(f"[red]error:[/red] {exc}")
                continue
            assert answer is not None
            if answer.refused:
                out.print(answer.answer, end="")
            _print_answer(answer, streamed=True)
            history.extend([ChatMessage("user", question), ChatMessage("assistant", answer.answer)])
    finally:
        resources.close()


# --- evaluation -----------------------------------------------------------------------------


def _ingest_quietly(resources: Any, corpus: Path, collection: str) -> Any:
    from ingest.pipeline import IngestProgress

    with _progress_bar("ingesting") as bar:
        task = bar.add_task("ingest", total=None)

        def on_progress(p: IngestProgress) -> None:
            bar.update(task, completed=p.done, total=p.total)

        return resources.ingestor.ingest_paths(
            [corpus], collection=collection, progress=on_progress
        )


def _progress_bar(label: str) -> Progress:
    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("ETA"), TimeRemainingColumn(), console=err, transient=True,
    )  # fmt: skip


@eval_app.command("retrieval")
def eval_retrieval(
    corpus: Annotated[Path, typer.Option(help="BEIR corpus.jsonl.", exists=True, dir_okay=False)],
    queries: Annotated[Path, typer.Option(help="BEIR queries.jsonl.", exists=True, dir_okay=False)],
    qrels: Annotated[Path, typer.Option(help="BEIR qrels TSV.", exists=True, dir_okay=False)],
    mode: Annotated[str, typer.Option(help="dense, lexical or hybrid.")] = "hybrid",
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="Default: eval-<corpus folder>.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """nDCG@10, recall@10/100 and MRR@10 on a BEIR dataset (ingests the corpus first)."""
    from rag.evaluation import evaluate_retrieval, read_beir_queries, read_qrels
    from rag.filters import SearchFilter
    from rag.retriever import best_per_document

    name = collection or f"eval-{corpus.resolve().parent.name}"
    resources = _resources()
    try:
        ingest_summary = _ingest_quietly(resources, corpus, name)
        search_filter = SearchFilter(collections=(name,))

        def rank(query: str) -> list[str]:
            result = resources.retriever.search(
                query, k=300, mode=mode, search_filter=search_filter
            )
            return [h.source for h in best_per_document(result.hits, 100)]

        with _progress_bar(f"eval {mode}") as bar:
            task = bar.add_task("eval", total=None)
            metrics = evaluate_retrieval(
                queries=read_beir_queries(queries),
                qrels=read_qrels(qrels),
                rank_documents=rank,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except RagError as exc:
        raise _fail(str(exc)) from exc
    finally:
        resources.close()
    metrics = {"mode": mode, "collection": name, **metrics}
    metrics["ingest"] = {
        k: getattr(ingest_summary, k) for k in ("added", "updated", "unchanged", "failed")
    }
    if as_json:
        _print_json(metrics)
    else:
        for key, value in metrics.items():
            out.print(f"[bold]{key}[/bold]: {value}")


@eval_app.command("qa")
def eval_qa(
    corpus: Annotated[Path, typer.Option(help="BEIR corpus.jsonl.", exists=True, dir_okay=False)],
    qa: Annotated[Path, typer.Option(help="QA JSONL rows.", exists=True, dir_okay=False)],
    limit: Annotated[int | None, typer.Option(min=1, help="Sample this many rows.")] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="Default: eval-<corpus folder>.")
    ] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Answer tokens.")] = 96,
    as_json: JsonOption = False,
) -> None:
    """End-to-end answer quality on SQuAD-like rows (ingests the corpus first)."""
    import time

    from sqlalchemy import select

    from rag.evaluation import QAOutcome, evaluate_qa, read_qa_rows
    from rag.filters import SearchFilter
    from rag.models import Chunk, Document

    name = collection or f"eval-{corpus.resolve().parent.name}"
    resources = _resources()
    try:
        _ingest_quietly(resources, corpus, name)
        rows = read_qa_rows(qa, limit=limit, seed=seed)
        search_filter = SearchFilter(collections=(name,))

        def answer(question: str) -> QAOutcome:
            started = time.perf_counter()
            result = resources.pipeline.ask(
                question, search_filter=search_filter, max_tokens=max_tokens
            )
            latency = (time.perf_counter() - started) * 1000
            ranked_sources: list[str] = []
            with resources.kb.read_session() as session:
                pairs = dict(
                    session.execute(
                        select(Chunk.id, Document.source)
                        .join(Document, Document.id == Chunk.document_id)
                        .where(Chunk.id.in_(result.retrieved_chunk_ids))
                    ).all()
                )
            for chunk_id in result.retrieved_chunk_ids:
                source = pairs.get(chunk_id)
                if source is not None and source not in ranked_sources:
                    ranked_sources.append(source)
            return QAOutcome(
                answer=result.answer,
                refused=result.refused,
                retrieved_doc_ids=ranked_sources,
                cited_doc_ids=[c.source for c in result.citations],
                latency_ms=latency,
            )

        with _progress_bar("eval qa") as bar:
            task = bar.add_task("qa", total=len(rows))
            metrics = evaluate_qa(
                rows,
                answer=answer,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except RagError as exc:
        raise _fail(str(exc)) from exc
    finally:
        resources.close()
    metrics = {"collection": name, "seed": seed, "max_tokens": max_tokens, **metrics}
    if as_json:
        _print_json(metrics)
    else:
        for key, value in metrics.items():
            out.print(f"[bold]{key}[/bold]: {value}")


# --- server, keys, batch ---------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    from api.app import create_app

    settings = state.settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_level="info",
    )


keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


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
    from api.auth import create_key

    kb = _open_kb()
    with kb.write_session.begin() as session:
        row, token = create_key(session, collections=collections or [], name=name)
        key_id = row.id
    kb.close()
    if as_json:
        _print_json({"id": key_id, "key": token, "collections": collections or []})
    else:
        out.print(token)
        err.print(
            f"key {key_id} created; scope: {', '.join(collections or []) or 'all collections'}"
        )


@app.command()
def batch(
    questions: Annotated[Path, typer.Argument(help="JSONL: {id, question} or a string per line.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Answers JSONL (appended).")],
    collection: CollectionOption = None,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="Answer tokens.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Answer many questions; resumable: ids already in the output file are skipped."""
    from rag.filters import SearchFilter

    if not questions.is_file():
        raise _fail(f"no such file: {questions}")
    done_ids: set[str] = set()
    if output.exists():
        for line in output.read_text(encoding="utf-8").splitlines():
            try:
                done_ids.add(str(json.loads(line)["id"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line cut by a crash is answered again
    rows: list[tuple[str, str]] = []
    bad: list[str] = []
    for number, line in enumerate(questions.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            if isinstance(raw, str):
                qid, text = str(number), raw
            else:
                qid, text = str(raw.get("id", number)), str(raw["question"])
            if not text.strip():
                raise ValueError("empty question")
            rows.append((qid, text))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            bad.append(f"line {number}: {type(exc).__name__} {exc}")
    pending = [(qid, text) for qid, text in rows if qid not in done_ids]
    search_filter = SearchFilter(collections=(collection,)) if collection else SearchFilter()
    resources = _resources()
    answered = failed = 0
    try:
        with _progress_bar("answering") as bar, open(output, "a", encoding="utf-8") as sink:
            task = bar.add_task("batch", total=len(pending))
            for qid, text in pending:
                try:
                    answer = resources.pipeline.ask(
                        text, search_filter=search_filter, max_tokens=max_tokens
                    )
                    record = {"id": qid, **_answer_dict(answer)}
                    answered += 1
                except RagError as exc:
                    record = {"id": qid, "question": text, "error": str(exc)}
                    failed += 1
                sink.write(json.dumps(record, default=str) + "\n")
                sink.flush()
                os.fsync(sink.fileno())
                bar.advance(task)
    finally:
        resources.close()
    summary = {
        "questions": len(rows),
        "skipped_already_answered": len(rows) - len(pending),
        "answered": answered,
        "failed": failed,
        "bad_rows": bad,
    }
    if as_json:
        _print_json(summary)
    else:
        err.print(
            f"answered {answered}, failed {failed}, skipped {summary['skipped_already_answered']}"
            f", bad rows {len(bad)}"
        )
        for problem in bad:
            err.print(f"[yellow]skipped[/yellow] {problem}")
    if bad or failed:
        raise typer.Exit(1)


@app.command()
def doctor(
    repair: Annotated[bool, typer.Option("--repair", help="Fix what is found.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Check DB, FTS and FAISS consistency, orphan chunks, embeddings and the embedding
    model; exit 0 only when consistent (after repairs, with --repair)."""
    from rag.doctor import diagnose
    from rag.doctor import repair as repair_store
    from rag.embedder import embedding_model_name, load_embedder

    settings = state.settings()
    kb = _open_kb()
    try:
        report = diagnose(kb, configured_model=embedding_model_name(settings.embedding))
        if repair and not report.consistent:
            report = repair_store(kb, report, embedder=load_embedder(settings.embedding))
    finally:
        kb.close()
    payload = report.to_dict()
    if as_json:
        _print_json(payload)
    else:
        for key, value in payload.items():
            out.print(f"[bold]{key}[/bold]: {value}")
    if not report.consistent:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
