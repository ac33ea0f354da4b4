"""API keys: random tokens shown once, stored as SHA-256 hashes, optionally scoped to
collections."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from rag.errors import AuthenticationError, NotFoundError
from rag.filters import SearchFilter
from rag.models import ApiKey

KEY_PREFIX = "rag_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. ``collections`` None means every collection."""

    key_id: int | None
    collections: tuple[str, ...] | None

    def can_see(self, collection: str) -> bool:
        return self.collections is None or collection in self.collections

    def require(self, collection: str) -> None:
        # 404, not 403: a scoped key must not learn that other collections exist.
        if not self.can_see(collection):
            raise NotFoundError(f"collection '{collection}' does not exist")

    def scope(self, search_filter: SearchFilter) -> SearchFilter:
        if self.collections is None:
            return search_filter
        return search_filter.restricted_to(self.collections)


ANONYMOUS = Principal(key_id=None, collections=None)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(
    session: Session, *, collections: Sequence[str] = (), name: str = ""
) -> tuple[ApiKey, str]:
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        name=name, prefix=token[:10], key_hash=hash_key(token), collections=list(collections)
    )
    session.add(row)
    session.flush()
    return row, token


def keys_exist(session: Session) -> bool:
    return bool(session.scalar(select(func.count(ApiKey.id))))


def authenticate(
    sessions: sessionmaker[Session], *, token: str | None, auth_mode: str
) -> Principal:
    with sessions() as session:
        if auth_mode == "off" or not keys_exist(session):
            return ANONYMOUS
        if not token:
            raise AuthenticationError("an API key is required (Authorization: Bearer <key>)")
        row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(token)))
        if row is None:
            raise AuthenticationError("invalid API key")
        return Principal(key_id=row.id, collections=tuple(row.collections) or None)
