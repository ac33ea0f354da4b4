"""Receiving files for ingestion: uploads streamed to disk under a size cap, and server
paths checked against the allowed roots. What they produce is the params of an ingest job."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from ingest.ingestion import count_ingest_units
from ingest.uploads import safe_upload_name, upload_source
from rag.errors import FileTooLargeError, InvalidInputError, NotFoundError, UnsupportedFileError
from rag.settings import Settings

READ_BLOCK = 1024 * 1024


class Upload(Protocol):
    filename: str | None

    async def read(self, size: int = -1) -> bytes: ...


def _source_names(names: Sequence[str]) -> list[str]:
    """Duplicate names in one upload would replace each other silently: suffix them."""
    seen: dict[str, int] = {}
    result = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        count = seen[name]
        result.append(name if count == 1 else f"{Path(name).stem} ({count}){Path(name).suffix}")
    return result


async def save_uploads(files: Sequence[Upload], settings: Settings) -> list[dict[str, Any]]:
    """Check every name and type first, then stream each file to its own fsynced file.
    Over the size cap: nothing is kept and ``FileTooLargeError`` is raised."""
    allowed = {t.lower() for t in settings.api.allowed_upload_types}
    safe_names = []
    for upload in files:
        safe = safe_upload_name(upload.filename)
        suffix = Path(safe).suffix.lower()
        if suffix not in allowed:
            raise UnsupportedFileError(
                safe, f"type '{suffix or '(none)'}' is not accepted; allowed: {sorted(allowed)}"
            )
        safe_names.append(safe)
    job_dir = settings.uploads_dir / uuid.uuid4().hex
    job_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    limit = settings.api.max_upload_bytes
    try:
        for index, (upload, safe, source_name) in enumerate(
            zip(files, safe_names, _source_names(safe_names), strict=True)
        ):
            target = job_dir / f"{index:05d}"
            size = 0
            with open(target, "wb") as fh:
                while block := await upload.read(READ_BLOCK):
                    size += len(block)
                    if size > limit:
                        raise FileTooLargeError(safe, f"larger than the {limit}-byte upload limit")
                    fh.write(block)
                fh.flush()
                os.fsync(fh.fileno())
            entries.append(
                {"path": str(target), "name": source_name, "source": upload_source(source_name)}
            )
    except BaseException:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise
    return entries


def checked_server_path(raw: str, settings: Settings) -> tuple[Path, int]:
    """The resolved path (only under ``api.ingest_roots``) and how many units it holds."""
    # A client's path is taken literally: no "~user" expansion (an unknown user raised a 500).
    try:
        target = Path(raw).resolve()
    except (OSError, ValueError, RuntimeError) as exc:
        raise InvalidInputError(f"not a usable path: {raw!r}") from exc
    roots = [Path(r).expanduser().resolve() for r in settings.api.ingest_roots]
    if not any(target == root or target.is_relative_to(root) for root in roots):
        raise InvalidInputError(
            "the path is outside the allowed ingest roots (configure RAG_API__INGEST_ROOTS)"
        )
    if not target.exists():
        raise NotFoundError(f"no such file or directory: {raw}")
    return target, count_ingest_units([target])
