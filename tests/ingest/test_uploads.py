from __future__ import annotations

import pytest

from ingest.uploads import safe_upload_name, upload_source
from rag.errors import InvalidInputError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("/abs/path/report.pdf", "report.pdf"),
        ("C:\\Users\\me\\notes.txt", "notes.txt"),
        ("bell\x07name\x00.md", "bellname.md"),
        ("cafe\u0301.txt", "caf\u00e9.txt"),  # NFC: one code point for é
        ("  spaced.txt  ", "spaced.txt"),
    ],
)
def test_names_are_reduced_to_a_safe_last_component(raw: str, expected: str) -> None:
    assert safe_upload_name(raw) == expected
    assert upload_source(expected) == f"upload://{expected}"


@pytest.mark.parametrize("raw", ["", "..", "dir/..", "/", "\x01\x02", None])
def test_unusable_names_are_refused(raw: str | None) -> None:
    with pytest.raises(InvalidInputError):
        safe_upload_name(raw)
