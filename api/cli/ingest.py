"""`rag ingest` and `rag reembed`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import TextColumn

from api.cli.common import (
    Engine,
    JsonOption,
    SparkMasterOption,
    context,
    err,
    fail,
    open_resources,
    print_json,
    progress_bar,
)
from ingest.ingestion import IngestProgress
from rag.errors import RagError
from rag.pii import PiiMode


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to ingest.")],
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="Target collection.")
    ] = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete documents whose source file disappeared.")
    ] = False,
    engine: Annotated[
        Engine,
        typer.Option(help="local: this process; spark: loading, chunking and embedding on Spark."),
    ] = Engine.LOCAL,
    spark_master: SparkMasterOption = None,
    pii: Annotated[
        PiiMode | None,
        typer.Option(
            help="Personal data in this collection from now on: off, detect (counts in "
            "metadata) or redact (replaced before embedding). Default: the collection's mode."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Ingest files (txt, md, html, pdf, docx, BEIR jsonl) incrementally; exit 1 if any failed."""
    try:
        chunks = TextColumn("docs · {task.fields[chunks]} chunks")
        with progress_bar("ingesting", chunks, quiet=as_json) as bar:
            task = bar.add_task("ingest", total=None, chunks=0)

            def on_progress(p: IngestProgress) -> None:
                bar.update(task, completed=p.done, total=p.total, chunks=p.chunks)

            if engine is Engine.SPARK:
                from ingest.spark import ingest_with_spark

                summary = ingest_with_spark(
                    context.settings(), paths, collection=collection, prune=prune,
                    master=spark_master, progress=on_progress, pii=pii,
                )  # fmt: skip
            else:
                with open_resources() as resources:
                    summary = resources.ingestor.ingest_paths(
                        paths, collection=collection, prune=prune, progress=on_progress, pii=pii
                    )
    except RagError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        print_json(summary.to_dict())
    else:
        err.print(
            f"added {summary.added}, updated {summary.updated}, unchanged {summary.unchanged}, "
            f"failed {summary.failed}, deleted {summary.deleted} "
            f"({summary.chunks_embedded} chunks embedded, {summary.chunks_reused} reused, "
            f"{summary.seconds:.1f}s)"
        )
        for error in summary.errors:
            err.print(f"[red]failed[/red] {error.source}: {error.message}")
    if summary.failed:
        raise typer.Exit(1)


def reembed(as_json: JsonOption = False) -> None:
    """Re-embed every chunk with the configured embedding model (after a model change)."""
    with open_resources() as resources:
        try:
            count = resources.kb.reembed_all(resources.embedder)
        except RagError as exc:
            raise fail(str(exc)) from exc
        name = resources.embedder.name
    if as_json:
        print_json({"chunks": count, "embedding_model": name})
    else:
        err.print(f"re-embedded {count} chunks with {name}")
