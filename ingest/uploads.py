"""Turning client-supplied file names into safe, stable document sources."""

from __future__ import annotations

import re
import unicodedata

from rag.errors import InvalidInputError

UPLOAD_SCHEME = "upload://"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def safe_upload_name(raw: str | None) -> str:
    """The last path component, NFC-normalized, without control characters.

    ``../../etc/passwd`` becomes ``passwd``; ``C:\\dir\\a.txt`` becomes ``a.txt``. Names that
    are empty or only dots afterwards are refused.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = _UNSAFE.sub("", name).replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or set(name) <= {"."}:
        raise InvalidInputError(f"unusable file name {raw!r}")
    return name[:255]


def upload_source(name: str) -> str:
    return UPLOAD_SCHEME + name
