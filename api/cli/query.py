"""`rag search`, `rag ask`, `rag chat` and `rag batch`."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import (
    CollectionOption,
    Engine,
    FilterOption,
    JsonOption,
    SparkMasterOption,
    context,
    err,
    fail,
    open_resources,
    out,
    print_answer,
    print_json,
    progress_bar,
    search_filter,
)
from rag.answering.answers import Answer, FinalEvent, TokenEvent
from rag.answering.batch import BatchProgress, JsonlSink, parse_question_lines, run_batch
from rag.answering.llm import ChatMessage
from rag.errors import RagError
from rag.retrieval.retriever import best_per_document
from rag.storage.filters import SearchFilter


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
    with open_resources() as resources:
        try:
            result = resources.retriever.search(
                query, k=k * 5 if documents else k, mode=mode,
                search_filter=search_filter(filters, collection), mmr=mmr,
            )  # fmt: skip
        except RagError as exc:
            raise fail(str(exc)) from exc
    hits = best_per_document(result.hits, k) if documents else result.hits
    if as_json:
        print_json(
            {
                "query": query,
                "mode": str(result.mode),
                "retrieval_ms": result.retrieval_ms,
                "hits": [asdict(h) for h in hits],
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


def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    stream: Annotated[bool, typer.Option("--stream", help="Print tokens as they come.")] = False,
    filters: FilterOption = None,
    collection: CollectionOption = None,
    k: Annotated[
        int | None,
        typer.Option("--k", "-k", min=1, max=50, help="Passages the model reads (sources)."),
    ] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="Answer tokens.")] = None,
    as_json: JsonOption = False,
) -> None:
    """A grounded, cited answer from the documents (refuses when they hold none)."""
    answer: Answer | None = None
    with open_resources() as resources:
        try:
            for event in resources.answerer.stream(
                question, search_filter=search_filter(filters, collection), k=k,
                max_tokens=max_tokens,
            ):  # fmt: skip
                if isinstance(event, TokenEvent) and stream:
                    if as_json:
                        sys.stdout.write(json.dumps({"event": "token", "text": event.text}) + "\n")
                    else:
                        out.print(event.text, end="", soft_wrap=True, highlight=False, markup=False)
                    sys.stdout.flush()
                elif isinstance(event, FinalEvent):
                    answer = event.answer
        except RagError as exc:
            raise fail(str(exc)) from exc
    assert answer is not None
    if not as_json:
        print_answer(answer, streamed=stream)
    elif stream:
        sys.stdout.write(json.dumps({"event": "final", **asdict(answer)}, default=str) + "\n")
    else:
        print_json(asdict(answer))


def chat(filters: FilterOption = None, collection: CollectionOption = None) -> None:
    """Interactive questions with conversation history (empty line or /exit ends)."""
    history: list[ChatMessage] = []
    with open_resources() as resources:
        scope = search_filter(filters, collection)
        while True:
            try:
                question = input("you> ").strip()
            except EOFError:
                break
            if not question or question in {"/exit", "/quit"}:
                break
            out.print("rag> ", end="")
            answer: Answer | None = None
            try:
                for event in resources.answerer.stream(
                    question, search_filter=scope, history=history
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
            print_answer(answer, streamed=True)
            history.extend([ChatMessage("user", question), ChatMessage("assistant", answer.answer)])


def batch(
    questions: Annotated[Path, typer.Argument(help="JSONL: {id, question} or a string per line.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Answers JSONL (appended).")],
    collection: CollectionOption = None,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="Answer tokens.")] = None,
    engine: Annotated[
        Engine,
        typer.Option(help="local: this process; spark: questions spread over Spark executors."),
    ] = Engine.LOCAL,
    spark_master: SparkMasterOption = None,
    as_json: JsonOption = False,
) -> None:
    """Answer many questions; resumable: ids already in the output file are skipped. A row
    without an id is named by its line number."""
    if not questions.is_file():
        raise fail(f"no such file: {questions}")
    rows, bad = parse_question_lines(questions.read_text(encoding="utf-8").splitlines())
    scope = SearchFilter(collections=(collection,)) if collection else SearchFilter()
    with progress_bar("answering", quiet=as_json) as bar:
        task = bar.add_task("batch", total=None)

        def on_progress(p: BatchProgress) -> None:
            bar.update(task, completed=p.done, total=p.total)

        if engine is Engine.SPARK:
            from rag.answering.spark_batch import run_batch_on_spark

            try:
                summary = run_batch_on_spark(
                    context.settings(), rows, sink=JsonlSink(output),
                    collections=[collection] if collection else [], max_tokens=max_tokens,
                    master=spark_master, progress=on_progress,
                )  # fmt: skip
            except RagError as exc:
                raise fail(str(exc)) from exc
        else:
            with open_resources() as resources:
                summary = run_batch(
                    rows,
                    answer=lambda text: resources.answerer.ask(
                        text, search_filter=scope, max_tokens=max_tokens
                    ),
                    sink=JsonlSink(output),
                    progress=on_progress,
                )
    report = {
        "questions": summary.questions,
        "skipped_already_answered": summary.skipped_already_answered,
        "answered": summary.answered,
        "failed": summary.failed,
        "bad_rows": [str(b) for b in bad],
    }
    if as_json:
        print_json(report)
    else:
        err.print(
            f"answered {summary.answered}, failed {summary.failed}, "
            f"skipped {summary.skipped_already_answered}, bad rows {len(bad)}"
        )
        for problem in bad:
            err.print(f"[yellow]skipped[/yellow] {problem}")
    if bad or summary.failed:
        raise typer.Exit(1)
