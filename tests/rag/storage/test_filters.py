"""Search filters: CLI parsing, scoping to a key's collections, the SQL clause."""

from __future__ import annotations

from datetime import datetime

import pytest

from rag.errors import InvalidInputError
from rag.storage.filters import SearchFilter, filter_clause, glob_to_like, parse_filter_args


def test_cli_pairs_become_one_filter() -> None:
    parsed = parse_filter_args(
        ["collection=a", "collection=b", "document_id=3", "meta.lang=en",
         "source_glob=*.md", "updated_after=2026-01-01"]
    )  # fmt: skip
    assert parsed.collections == ("a", "b") and parsed.document_ids == (3,)
    assert parsed.metadata == {"lang": "en"} and parsed.source_glob == "*.md"
    assert parsed.updated_after == datetime(2026, 1, 1)
    for bad in ("nokey", "document_id=x", "updated_after=soon", "colour=red"):
        with pytest.raises(InvalidInputError):
            parse_filter_args([bad])


def test_scoping_intersects_and_can_leave_nothing() -> None:
    wanted = SearchFilter(collections=("a", "z"), source_prefix="/docs")
    scoped = wanted.restricted_to(["a", "b"])
    assert scoped.collections == ("a",) and scoped.source_prefix == "/docs"
    assert SearchFilter().restricted_to(["a", "b"]).collections == ("a", "b")
    none_left = SearchFilter(collections=("z",)).restricted_to(["a"])
    assert none_left.matches_nothing and not none_left.is_empty
    assert str(filter_clause(none_left)) == "false"


def test_no_filter_means_no_clause_and_globs_escape_like() -> None:
    assert filter_clause(None) is None and filter_clause(SearchFilter()) is None
    assert glob_to_like("a_%*?.md") == "a\\_\\%%_.md"
