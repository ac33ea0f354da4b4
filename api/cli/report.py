"""`rag report` (answer quality from the answer log and its feedback) and `rag audit` (the
audit log as JSONL)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from api.cli.common import JsonOption, err, open_kb, out, print_json
from rag.reporting import load_quality_report, report_html
from rag.storage import audit as audit_rows


def parse_day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def report(
    since: Annotated[
        str | None, typer.Option(help="First day (YYYY-MM-DD, UTC) of the period.")
    ] = None,
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="Only answers asked of it.")
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report here.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Answers, refusals (and why), feedback, support, citations and latency per collection
    and per day; the questions with negative feedback and the most refused ones."""
    day = parse_day(since)
    with open_kb() as kb:
        result = load_quality_report(kb, since=day, collection=collection)
    if html is not None:
        html.write_text(report_html(result), encoding="utf-8")
        err.print(f"wrote {html}")
    if as_json:
        print_json(result)
        return
    if html is not None:
        return
    table = Table(title="Answer quality by collection")
    for column in ("collection", "answers", "refusal rate", "positive", "support", "p95 ms"):
        table.add_column(column)
    for name, row in result["by_collection"].items():
        table.add_row(
            name, str(row["answers"]), _show(row["refusal_rate"]), _show(row["positive_share"]),
            _show(row["mean_support_score"]), _show(row["latency_p95_ms"]),
        )  # fmt: skip
    out.print(table)
    for item in result["top_refused_questions"][:5]:
        out.print(f"refused {item['count']}x: {item['question']}")
    if not result["by_collection"]:
        err.print("no answers logged" + (f" for collection {collection!r}" if collection else ""))


def _show(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def audit(
    since: Annotated[
        str | None, typer.Option(help="First day (YYYY-MM-DD, UTC) to export.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the JSONL here, not stdout.")
    ] = None,
) -> None:
    """Export the audit log as JSONL: every answer, upload, ingestion and delete, with the
    API key's id (never the key), the time, the collection and what was touched."""
    day = parse_day(since)
    start = datetime.combine(day, time.min, tzinfo=UTC) if day is not None else None
    with open_kb() as kb, kb.read_session() as session:
        entries = audit_rows.entries_since(session, since=start)
    lines = "".join(json.dumps(entry, default=str) + "\n" for entry in entries)
    if output is not None:
        output.write_text(lines, encoding="utf-8")
        err.print(f"wrote {len(entries)} entries to {output}")
    else:
        sys.stdout.write(lines)
