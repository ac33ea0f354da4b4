"""API key rows: only SHA-256 hashes are stored."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rag.storage.models import ApiKey


def add_key(
    session: Session,
    *,
    name: str,
    prefix: str,
    key_hash: str,
    collections: Sequence[str],
    roles: Sequence[str],
) -> ApiKey:
    row = ApiKey(
        name=name, prefix=prefix, key_hash=key_hash, collections=list(collections),
        roles=list(roles),
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def keys_exist(session: Session) -> bool:
    return bool(session.scalar(select(func.count(ApiKey.id))))


def find_key(session: Session, *, key_hash: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))
