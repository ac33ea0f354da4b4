"""Text decoding (UTF-8, BOM-marked UTF-16; binary refused) and plain-text titles."""

from __future__ import annotations

import codecs

from rag.errors import DecodeError


def _encoding_of(data: bytes) -> tuple[str, bytes]:
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8", data[3:]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", data
    return "utf-8", data


def decode_text(data: bytes, source: str, *, partial: bool = False) -> str:
    """Decode UTF-8 (with or without BOM) or BOM-marked UTF-16; refuse binary data.

    ``partial`` decodes a prefix sample: a multi-byte character cut at its end is fine.
    """
    encoding, body = _encoding_of(data)
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(body, final=not partial)
    except UnicodeDecodeError as exc:
        raise DecodeError(
            source,
            f"not valid {encoding.upper()} text (bad byte at offset {exc.start}); save it as UTF-8",
        ) from exc
    if "\x00" in text:
        raise DecodeError(source, "contains NUL bytes: binary data, not text")
    return text


def first_line_title(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip().lstrip("#").strip()
        if stripped:
            return stripped[:200]
    return ""
