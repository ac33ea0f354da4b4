"""`rag eval retrieval` and `rag eval qa`: the corpus is ingested first (a no-op when
unchanged), then every query is run with a progress bar."""

from __future__ import annotations

import json
import time
from contextlib import closing, nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import JsonOption, fail, open_resources, print_fields, print_json, progress_bar
from api.resources import Resources
from ingest.ingestion import IngestProgress, IngestSummary
from rag.errors import RagError
from rag.evaluation import (
    QAOutcome,
    evaluate_qa,
    evaluate_retrieval,
    read_beir_queries,
    read_qa_rows,
    read_qrels,
)
from rag.retrieval.retriever import best_per_document
from rag.storage import store
from rag.storage.filters import SearchFilter

app = typer.Typer(help="Measure retrieval and answer quality.", no_args_is_help=True)

CorpusOption = Annotated[Path, typer.Option(help="BEIR corpus.jsonl.", exists=True, dir_okay=False)]
EvalCollectionOption = Annotated[
    str | None, typer.Option("--collection", "-c", help="Default: eval-<corpus folder>.")
]


def _ingest(resources: Resources, corpus: Path, collection: str) -> IngestSummary:
    with progress_bar("ingesting") as bar:
        task = bar.add_task("ingest", total=None)

        def on_progress(p: IngestProgress) -> None:
            bar.update(task, completed=p.done, total=p.total)

        return resources.ingestor.ingest_paths(
            [corpus], collection=collection, progress=on_progress
        )


def _report(metrics: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(metrics)
    else:
        print_fields(metrics)


@app.command("retrieval")
def eval_retrieval(
    corpus: CorpusOption,
    queries: Annotated[Path, typer.Option(help="BEIR queries.jsonl.", exists=True, dir_okay=False)],
    qrels: Annotated[Path, typer.Option(help="BEIR qrels TSV.", exists=True, dir_okay=False)],
    mode: Annotated[str, typer.Option(help="dense, lexical or hybrid.")] = "hybrid",
    collection: EvalCollectionOption = None,
    as_json: JsonOption = False,
) -> None:
    """nDCG@10, recall@10/100 and MRR@10 on a BEIR dataset (ingests the corpus first)."""
    name = collection or f"eval-{corpus.resolve().parent.name}"
    with open_resources() as resources:
        try:
            ingested = _ingest(resources, corpus, name)
            scope = SearchFilter(collections=(name,))

            def rank(query: str) -> list[str]:
                result = resources.retriever.search(query, k=300, mode=mode, search_filter=scope)
                return [h.source for h in best_per_document(result.hits, 100)]

            with progress_bar(f"eval {mode}") as bar:
                task = bar.add_task("eval", total=None)
                metrics = evaluate_retrieval(
                    queries=read_beir_queries(queries),
                    qrels=read_qrels(qrels),
                    rank_documents=rank,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        except RagError as exc:
            raise fail(str(exc)) from exc
    metrics = {"mode": mode, "collection": name, **metrics}
    metrics["ingest"] = {
        k: getattr(ingested, k) for k in ("added", "updated", "unchanged", "failed")
    }
    _report(metrics, as_json)


@app.command("qa")
def eval_qa(
    corpus: CorpusOption,
    qa: Annotated[Path, typer.Option(help="QA JSONL rows.", exists=True, dir_okay=False)],
    limit: Annotated[int | None, typer.Option(min=1, help="Sample this many rows.")] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    collection: EvalCollectionOption = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Answer tokens.")] = 96,
    details: Annotated[
        Path | None, typer.Option(help="Also write one JSON line per question here.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """End-to-end answer quality on SQuAD-like rows (ingests the corpus first)."""
    name = collection or f"eval-{corpus.resolve().parent.name}"
    sink = open(details, "w", encoding="utf-8") if details is not None else None  # noqa: SIM115
    with open_resources() as resources, closing(sink) if sink else nullcontext():
        try:
            _ingest(resources, corpus, name)
            rows = read_qa_rows(qa, limit=limit, seed=seed)
            scope = SearchFilter(collections=(name,))

            def answer(question: str) -> QAOutcome:
                started = time.perf_counter()
                result = resources.answerer.ask(
                    question, search_filter=scope, max_tokens=max_tokens
                )
                latency = (time.perf_counter() - started) * 1000
                if sink is not None:
                    record = {**asdict(result), "question": question}
                    sink.write(json.dumps(record, default=str) + "\n")
                    sink.flush()
                with resources.kb.read_session() as session:
                    sources = store.chunk_sources(session, chunk_ids=result.retrieved_chunk_ids)
                ranked = [sources[c] for c in result.retrieved_chunk_ids if c in sources]
                return QAOutcome(
                    answer=result.answer,
                    refused=result.refused,
                    retrieved_doc_ids=list(dict.fromkeys(ranked)),
                    cited_doc_ids=[c.source for c in result.citations],
                    latency_ms=latency,
                    refusal_reason=result.refusal_reason,
                    looped=result.looped,
                )

            with progress_bar("eval qa") as bar:
                task = bar.add_task("qa", total=len(rows))
                metrics = evaluate_qa(
                    rows,
                    answer=answer,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        except RagError as exc:
            raise fail(str(exc)) from exc
    _report({"collection": name, "seed": seed, "max_tokens": max_tokens, **metrics}, as_json)
