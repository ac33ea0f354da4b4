"""API keys: random tokens shown once, stored as SHA-256 hashes, with roles and optionally
scoped to collections.

Roles: ``search`` (search, list and read documents and collections, embeddings), ``ask``
(answers, chat completions, feedback, batches), ``ingest`` (uploads, server paths, their
jobs) and ``admin`` (create and delete collections, delete documents, reports), which
implies the other three. Without keys (or with auth off) every caller may do everything."""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from rag.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from rag.storage import api_keys
from rag.storage.filters import SearchFilter
from rag.storage.models import ApiKey

KEY_PREFIX = "rag_"


class Role(enum.StrEnum):
    SEARCH = "search"
    ASK = "ask"
    INGEST = "ingest"
    ADMIN = "admin"


DEFAULT_ROLES = (Role.SEARCH, Role.ASK)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. ``collections`` None means every collection; ``roles`` None means
    every role (no key needed)."""

    key_id: int | None
    collections: tuple[str, ...] | None
    roles: frozenset[Role] | None = None

    def has_role(self, role: Role) -> bool:
        return self.roles is None or role in self.roles or Role.ADMIN in self.roles

    def require_role(self, role: Role) -> None:
        if not self.has_role(role):
            raise PermissionDeniedError(f"this API key lacks the {role.value!r} role")

    def can_see(self, collection: str) -> bool:
        return self.collections is None or collection in self.collections

    def require(self, collection: str, *, thing: str | None = None) -> None:
        """Raise 404 for ``thing`` (default: the collection) unless its collection is visible.
        404, not 403: a scoped key must not learn that other collections' things exist."""
        if not self.can_see(collection):
            raise NotFoundError(f"{thing or f'collection {collection!r}'} does not exist")

    def scope(self, search_filter: SearchFilter) -> SearchFilter:
        if self.collections is None:
            return search_filter
        return search_filter.restricted_to(self.collections)


ANONYMOUS = Principal(key_id=None, collections=None)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(
    session: Any,
    *,
    collections: Sequence[str] = (),
    name: str = "",
    roles: Sequence[Role] = DEFAULT_ROLES,
) -> tuple[ApiKey, str]:
    """A new key in the caller's write transaction; the token is returned once."""
    if not roles:
        raise InvalidInputError("a key needs at least one role")
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    row = api_keys.add_key(
        session, name=name, prefix=token[:10], key_hash=hash_key(token),
        collections=collections, roles=sorted({Role(r).value for r in roles}),
    )  # fmt: skip
    return row, token


def authenticate(
    sessions: Callable[[], AbstractContextManager[Any]], *, token: str | None, auth_mode: str
) -> Principal:
    with sessions() as session:
        if auth_mode == "off" or not api_keys.keys_exist(session):
            return ANONYMOUS
        if not token:
            raise AuthenticationError("an API key is required (Authorization: Bearer <key>)")
        row = api_keys.find_key(session, key_hash=hash_key(token))
        if row is None:
            raise AuthenticationError("invalid API key")
        roles = frozenset(Role(r) for r in row.roles) if row.roles is not None else None
        return Principal(
            key_id=row.id,
            collections=tuple(row.collections) or None,
            roles=roles if roles is not None else frozenset({Role.ADMIN}),
        )
