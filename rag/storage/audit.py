"""The audit log: who (an API key's id, never the key) did what to which collection, when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from rag.storage.models import AuditEntry, as_utc, utcnow


def record(
    session: Session,
    *,
    key_id: int | None,
    action: str,
    collection: str = "",
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            at=utcnow(), key_id=key_id, action=action, collection=collection, target=target,
            detail=detail,
        )
    )  # fmt: skip


def entries_since(session: Session, *, since: datetime | None = None) -> list[dict[str, Any]]:
    """The entries from ``since`` on, oldest first, as plain dicts (for JSONL export)."""
    query = select(AuditEntry).order_by(AuditEntry.at, AuditEntry.id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    return [
        {
            "id": row.id,
            "at": as_utc(row.at).isoformat(),
            "key_id": row.key_id,
            "action": row.action,
            "collection": row.collection,
            "target": row.target,
            "detail": row.detail or {},
        }
        for row in session.scalars(query)
    ]


def purge_before(session: Session, *, moment: datetime) -> int:
    """Delete the entries older than ``moment``; returns how many."""
    result = session.execute(delete(AuditEntry).where(AuditEntry.at < moment))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
