"""What every command shares: the data-dir option, JSON output, errors, the one progress
bar, filters and the way an answer is printed."""

from __future__ import annotations

import enum
import json
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from api.resources import Resources
from rag.answering.answers import Answer
from rag.settings import Settings
from rag.storage.filters import SearchFilter, parse_filter_args
from rag.storage.knowledge_base import KnowledgeBase

err = Console(stderr=True)
out = Console()

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
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


@dataclass(slots=True)
class CliContext:
    """Options given before the sub-command."""

    data_dir: Path | None = None
    database_url: str | None = None

    def settings(self) -> Settings:
        given: dict[str, Any] = {"data_dir": self.data_dir, "database_url": self.database_url}
        return Settings(**{k: v for k, v in given.items() if v is not None})


context = CliContext()


class Engine(enum.StrEnum):
    """Where `rag ingest` and `rag batch` do their work."""

    LOCAL = "local"
    SPARK = "spark"


SparkMasterOption = Annotated[
    str | None,
    typer.Option(help="Spark master URL (default RAG_SPARK__MASTER, local[*,4])."),
]


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def print_fields(payload: dict[str, Any]) -> None:
    for key, value in payload.items():
        out.print(f"[bold]{key}[/bold]: {value}")


def open_kb() -> closing[KnowledgeBase]:
    """The store of ``--data-dir``, closed when the ``with`` block ends."""
    return closing(KnowledgeBase(context.settings()))


def open_resources() -> closing[Resources]:
    """Models (loaded on first use) and the store of ``--data-dir``, closed at the end."""
    return closing(Resources(context.settings()))


def progress_bar(label: str, *columns: ProgressColumn, quiet: bool = False) -> Progress:
    """The one progress bar (stderr): label, bar, done/total, elapsed, ETA, extra columns."""
    return Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), *columns,
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=err, transient=True, disable=quiet and not err.is_terminal,
    )  # fmt: skip


def search_filter(filters: list[str] | None, collection: str | None) -> SearchFilter:
    pairs = list(filters or [])
    if collection:
        pairs.append(f"collection={collection}")
    return parse_filter_args(pairs)


def print_answer(answer: Answer, *, streamed: bool) -> None:
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
    status = (
        f"refused ({answer.refusal_reason})"
        if answer.refused
        else ("grounded" if answer.grounded else "NOT grounded")
    )
    err.print(
        f"{status}; support {answer.support_score:.2f}; "
        + ", ".join(f"{k} {v}" for k, v in answer.timings.items())
    )
