"""`rag eval retrieval` and `rag eval qa`: the corpus is ingested first (a no-op when
unchanged), then every query is run with a progress bar."""

from __future__ import annotations

import json
import os
import subprocess
import time
from contextlib import closing, nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import (
    JsonOption,
    err,
    fail,
    open_resources,
    print_fields,
    print_json,
    progress_bar,
)
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
from rag.reporting import numeric_metrics
from rag.retrieval.retriever import best_per_document
from rag.settings import Settings
from rag.storage import eval_runs, store
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


SaveOption = Annotated[
    bool, typer.Option("--save", help="Store this run (metrics, settings, models, commit).")
]
FailUnderOption = Annotated[
    list[str] | None,
    typer.Option(
        "--fail-under",
        help="METRIC=VALUE: exit 1 when the metric is below VALUE (repeatable; nested "
        "metrics by dots, e.g. answerable.f1). For deployment pipelines.",
    ),
]


def current_commit() -> str | None:
    """The commit being evaluated: RAG_COMMIT, else git's HEAD here, else unknown."""
    if os.environ.get("RAG_COMMIT"):
        return os.environ["RAG_COMMIT"]
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
            timeout=5, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def thresholds(pairs: list[str] | None) -> dict[str, float]:
    parsed = {}
    for pair in pairs or []:
        name, _, value = pair.partition("=")
        try:
            parsed[name.strip()] = float(value)
        except ValueError:
            raise fail(f"--fail-under wants METRIC=NUMBER, got {pair!r}") from None
    return parsed


def _finish(
    resources: Resources, *, kind: str, collection: str, metrics: dict[str, Any],
    save: bool, fail_under: dict[str, float], as_json: bool,
) -> None:  # fmt: skip
    """Print the metrics; store the run if asked; exit 1 below a --fail-under threshold."""
    if as_json:
        print_json(metrics)
    else:
        print_fields(metrics)
    if save:
        settings = resources.settings
        with resources.kb.write_session.begin() as session:
            run_id = eval_runs.save_run(
                session, kind=kind, collection=collection, metrics=metrics,
                settings=settings.model_dump(mode="json", include=RUN_SETTINGS),
                models={"embedding": resources.embedder.name, "llm": llm_name(settings)},
                commit=current_commit(),
            )  # fmt: skip
        err.print(f"saved as evaluation run {run_id}")
    numbers = numeric_metrics(metrics)
    below = []
    for name, floor in fail_under.items():
        if name not in numbers:
            raise fail(f"--fail-under names {name!r}, which this evaluation does not report")
        if numbers[name] < floor:
            below.append(f"{name} {numbers[name]:g} < {floor:g}")
    if below:
        err.print(f"[red]below the threshold:[/red] {'; '.join(below)}")
        raise typer.Exit(1)


# The settings that shape evaluation results, stored with each run.
RUN_SETTINGS = {"embedding", "chunking", "retrieval", "answer", "llm"}


def llm_name(settings: Settings) -> str:
    path = settings.llm.model_path
    return path.name if path is not None else f"preset:{settings.llm.preset}"


@app.command("retrieval")
def eval_retrieval(
    corpus: CorpusOption,
    queries: Annotated[Path, typer.Option(help="BEIR queries.jsonl.", exists=True, dir_okay=False)],
    qrels: Annotated[Path, typer.Option(help="BEIR qrels TSV.", exists=True, dir_okay=False)],
    mode: Annotated[str, typer.Option(help="dense, lexical or hybrid.")] = "hybrid",
    collection: EvalCollectionOption = None,
    save: SaveOption = False,
    fail_under: FailUnderOption = None,
    as_json: JsonOption = False,
) -> None:
    """nDCG@10, recall@10/100 and MRR@10 on a BEIR dataset (ingests the corpus first)."""
    floors = thresholds(fail_under)
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
        _finish(
            resources, kind="retrieval", collection=name, metrics=metrics, save=save,
            fail_under=floors, as_json=as_json,
        )  # fmt: skip


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
    save: SaveOption = False,
    fail_under: FailUnderOption = None,
    as_json: JsonOption = False,
) -> None:
    """End-to-end answer quality on SQuAD-like rows (ingests the corpus first)."""
    floors = thresholds(fail_under)
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
        _finish(
            resources, kind="qa", collection=name,
            metrics={"collection": name, "seed": seed, "max_tokens": max_tokens, **metrics},
            save=save, fail_under=floors, as_json=as_json,
        )  # fmt: skip
