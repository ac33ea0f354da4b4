"""PDF text per page (page numbers kept); encrypted or broken files refused."""

from __future__ import annotations

import io

from ingest.loaders.document import Section
from rag.errors import CorruptFileError, DocumentError


def pdf_sections(data: bytes, source: str) -> tuple[str, list[Section]]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception as exc:
                raise CorruptFileError(source, "encrypted PDF (a password is needed)") from exc
        sections = []
        for number, page in enumerate(reader.pages, start=1):
            text = (page.extract_text() or "").strip()
            if text:
                sections.append(Section(text=text, page=number))
        meta_title = ""
        try:
            meta = reader.metadata
            meta_title = str(meta.title) if meta and meta.title else ""
        except Exception:  # a broken info dictionary is not worth failing the file for
            meta_title = ""
    except FileNotDecryptedError as exc:
        raise CorruptFileError(source, "encrypted PDF (a password is needed)") from exc
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise CorruptFileError(source, f"unreadable PDF ({type(exc).__name__}: {exc})") from exc
    except RecursionError as exc:
        raise CorruptFileError(source, "unreadable PDF (structure nested too deeply)") from exc
    return meta_title, sections
