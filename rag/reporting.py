"""The quality report: what the answer log and its feedback say about the answers, per
collection and per day. Pure functions over logged rows (``rag.storage.answer_log``); the HTML
version embeds its plots, so it is one self-contained file.

Feedback ratings are thumbs (``1`` up, ``-1`` down) or scores: ``4``-``5`` count as positive,
``2``-``3`` as negative, ``0`` as neither. A ``1`` is read as a thumbs up.
"""

from __future__ import annotations

import base64
import html
import io
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

import numpy as np

from rag.storage import answer_log, eval_runs
from rag.storage.answer_log import LoggedAnswer, LoggedFeedback
from rag.storage.knowledge_base import KnowledgeBase

ALL = "(all collections)"
TOP = 20


def is_positive(rating: int) -> bool:
    return rating == 1 or rating >= 4


def is_negative(rating: int) -> bool:
    return rating < 0 or 2 <= rating <= 3


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: Sequence[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def _percentile(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def metrics(answers: Sequence[LoggedAnswer], ratings: dict[str, list[int]]) -> dict[str, Any]:
    """The report's numbers for one group of answers. Support, citations and unsupported
    sentences are over the answers that were not refused; latency over all of them."""
    given = [a for a in answers if not a.refused]
    refusals = [a for a in answers if a.refused]
    feedback = [r for a in answers for r in ratings.get(a.answer_id, [])]
    judged = [r for r in feedback if is_positive(r) or is_negative(r)]
    sentences = sum(a.sentences for a in given)
    latencies = [a.latency_ms for a in answers]
    return {
        "answers": len(answers),
        "refusals": len(refusals),
        "refusal_rate": _share(len(refusals), len(answers)),
        "refusals_by_reason": dict(
            sorted(Counter(a.refusal_reason or "unknown" for a in refusals).items())
        ),
        "feedback": len(feedback),
        "positive_share": _share(sum(1 for r in judged if is_positive(r)), len(judged)),
        "mean_support_score": _mean([a.support_score for a in given]),
        "unsupported_sentence_rate": _share(sum(a.unsupported_sentences for a in given), sentences),
        "citations_per_answer": _mean([float(a.citations) for a in given]),
        "latency_p50_ms": _percentile(latencies, 50),
        "latency_p95_ms": _percentile(latencies, 95),
    }


def quality_report(
    answers: Sequence[LoggedAnswer], feedback: Iterable[LoggedFeedback]
) -> dict[str, Any]:
    """Totals, per collection, per collection and day (UTC), the questions with negative
    feedback (newest first) and the most often refused questions (what the knowledge base
    is missing)."""
    ratings: dict[str, list[int]] = defaultdict(list)
    comments: dict[str, list[LoggedFeedback]] = defaultdict(list)
    for item in feedback:
        ratings[item.answer_id].append(item.rating)
        comments[item.answer_id].append(item)
    by_collection: dict[str, list[LoggedAnswer]] = defaultdict(list)
    by_day: dict[tuple[str, str], list[LoggedAnswer]] = defaultdict(list)
    for answer in answers:
        name = answer.collection or ALL
        by_collection[name].append(answer)
        by_day[(answer.created_at.date().isoformat(), name)].append(answer)
    negative = [
        _negative_row(a, f)
        for a in reversed(answers)
        for f in comments.get(a.answer_id, [])
        if is_negative(f.rating)
    ][:TOP]
    refused: dict[str, Counter[str]] = defaultdict(Counter)
    wording: dict[str, str] = {}
    for answer in answers:
        if answer.refused:
            key = " ".join(answer.question.lower().split()).rstrip("?!. ")
            wording.setdefault(key, answer.question.strip())
            refused[key][answer.refusal_reason or "unknown"] += 1
    top_refused = sorted(refused.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:TOP]
    return {
        "totals": metrics(answers, ratings),
        "by_collection": {
            name: metrics(group, ratings) for name, group in sorted(by_collection.items())
        },
        "by_day": [
            {"day": day, "collection": name, **metrics(group, ratings)}
            for (day, name), group in sorted(by_day.items())
        ],
        "negative_feedback": negative,
        "top_refused_questions": [
            {"question": wording[key], "count": sum(reasons.values()), "reasons": dict(reasons)}
            for key, reasons in top_refused
        ],
    }


def _negative_row(answer: LoggedAnswer, feedback: LoggedFeedback) -> dict[str, Any]:
    return {
        "answer_id": answer.answer_id, "time": answer.created_at.isoformat(),
        "collection": answer.collection or ALL, "question": answer.question,
        "answer": answer.answer, "rating": feedback.rating, "comment": feedback.comment,
    }  # fmt: skip


def numeric_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The numbers of a metrics dict, nested ones named with dots ("answerable.f1")."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            flat[prefix + key] = float(value)
        elif isinstance(value, dict):
            flat |= numeric_metrics(value, f"{prefix}{key}.")
    return flat


def evaluation_trend(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each saved run with its numeric metrics and their change since the previous run of
    the same kind on the same collection."""
    previous: dict[tuple[str, str], dict[str, float]] = {}
    trend = []
    for run in runs:
        numbers = numeric_metrics(run["metrics"])
        before = previous.get((run["kind"], run["collection"]))
        change = (
            {k: round(v - before[k], 4) for k, v in numbers.items() if k in before}
            if before is not None
            else {}
        )
        previous[(run["kind"], run["collection"])] = numbers
        kept = {k: run[k] for k in ("id", "at", "kind", "collection", "commit", "models")}
        trend.append({**kept, "metrics": numbers, "change": change})
    return trend


def load_quality_report(
    kb: KnowledgeBase, *, since: date | None = None, collection: str | None = None
) -> dict[str, Any]:
    """The report over the store's answer log, from ``since`` (a UTC day) on."""
    start = datetime.combine(since, time.min, tzinfo=UTC) if since is not None else None
    with kb.read_session() as session:
        answers, feedback = answer_log.answers_since(session, since=start, collection=collection)
        runs = eval_runs.runs_since(session, since=start)
    if collection is not None:
        runs = [r for r in runs if r["collection"] == collection]
    report = quality_report(answers, feedback)
    since_text = since.isoformat() if since is not None else None
    return {
        "since": since_text, "collection": collection, **report,
        "evaluations": evaluation_trend(runs),
    }  # fmt: skip


# --- HTML ---------------------------------------------------------------------------------

_PLOTS = (
    ("answers", "Answers per day"),
    ("refusal_rate", "Refusal rate"),
    ("positive_share", "Positive feedback share"),
    ("latency_p95_ms", "Latency p95 (ms)"),
)


def _plot_png(by_day: Sequence[dict[str, Any]]) -> str:
    """The daily trends as one PNG, base64: one line per collection in each panel."""
    import matplotlib

    matplotlib.use("Agg")  # no display, no GUI toolkit
    import matplotlib.pyplot as plt

    days = sorted({row["day"] for row in by_day})
    collections = sorted({row["collection"] for row in by_day})
    figure, axes = plt.subplots(2, 2, figsize=(11, 6.5), constrained_layout=True)
    for axis, (key, title) in zip(axes.flat, _PLOTS, strict=True):
        for name in collections:
            values = {row["day"]: row[key] for row in by_day if row["collection"] == name}
            points = [(i, values[d]) for i, d in enumerate(days) if values.get(d) is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                axis.plot(xs, ys, marker="o", label=name)
        axis.set_title(title)
        axis.set_xticks(range(len(days)), [d[5:] for d in days], rotation=45, fontsize=8)
        axis.grid(alpha=0.3)
        if key in {"refusal_rate", "positive_share"}:
            axis.set_ylim(-0.05, 1.05)
    axes.flat[0].legend(fontsize=8)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # A collection name may hold characters the bundled font lacks: they show as boxes.
        warnings.filterwarnings(
            "ignore", message="Glyph .* missing from font", category=UserWarning
        )
        figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


METRIC_COLUMNS = (
    "answers", "refusals", "refusal_rate", "refusals_by_reason", "feedback", "positive_share",
    "mean_support_score", "unsupported_sentence_rate", "citations_per_answer",
    "latency_p50_ms", "latency_p95_ms",
)  # fmt: skip


RUN_COLUMNS = ("at", "kind", "collection", "commit", "metrics")
# The metrics a run row shows first (the rest follow in name order).
HEADLINE = ("ndcg_at_10", "recall_at_10", "answer_contains_gold", "f1", "citation_accuracy")


def _run_row(run: dict[str, Any]) -> dict[str, Any]:
    names = [m for m in HEADLINE if m in run["metrics"]]
    names += sorted(m for m in run["metrics"] if m not in HEADLINE and "." not in m)
    shown = []
    for name in names:
        change = run["change"].get(name)
        delta = f" ({change:+g})" if change else ""
        shown.append(f"{name} {run['metrics'][name]:g}{delta}")
    return {**run, "metrics": ", ".join(shown)}


NEGATIVE_COLUMNS = ("time", "collection", "question", "answer", "rating", "comment")


def report_html(report: dict[str, Any], *, title: str = "Answer quality") -> str:
    """One self-contained HTML page: plots embedded as a data URI, no script, no CDN."""
    collections = [{"collection": k, **v} for k, v in report["by_collection"].items()]
    plot = (
        f'<img alt="daily trends" src="data:image/png;base64,{_plot_png(report["by_day"])}">'
        if report["by_day"]
        else "<p>No answers in this period.</p>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; }}
th {{ background: #f3f3f3; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Totals</h2>{_table([report["totals"]], METRIC_COLUMNS)}
<h2>Trends</h2>{plot}
<h2>By collection</h2>{_table(collections, ("collection", *METRIC_COLUMNS))}
<h2>By day</h2>{_table(report["by_day"], ("day", "collection", *METRIC_COLUMNS))}
<h2>Questions with negative feedback</h2>
{_table(report["negative_feedback"], NEGATIVE_COLUMNS)}
<h2>Most often refused questions</h2>
{_table(report["top_refused_questions"], ("question", "count", "reasons"))}
<h2>Evaluation runs</h2>
{_table([_run_row(run) for run in report.get("evaluations", [])], RUN_COLUMNS)}
</body></html>
"""
