"""Saved evaluation runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rag.storage.models import EvalRun, as_utc, utcnow


def save_run(
    session: Session,
    *,
    kind: str,
    collection: str,
    metrics: dict[str, Any],
    settings: dict[str, Any],
    models: dict[str, Any],
    commit: str | None,
) -> int:
    row = EvalRun(
        at=utcnow(), kind=kind, collection=collection, metrics=metrics, settings=settings,
        models=models, commit=commit,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


def runs_since(session: Session, *, since: datetime | None = None) -> list[dict[str, Any]]:
    """Saved runs, oldest first, as plain dicts."""
    query = select(EvalRun).order_by(EvalRun.at, EvalRun.id)
    if since is not None:
        query = query.where(EvalRun.at >= since)
    return [
        {
            "id": row.id,
            "at": as_utc(row.at).isoformat(),
            "kind": row.kind,
            "collection": row.collection,
            "metrics": row.metrics,
            "models": row.models,
            "commit": row.commit,
        }
        for row in session.scalars(query)
    ]
