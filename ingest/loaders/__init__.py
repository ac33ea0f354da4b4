"""Loaders: bytes on disk -> ``LoadedDocument`` (text split into sections with page/heading),
one module per format plus type detection. Every failure is a specific ``DocumentError``."""

from ingest.loaders.detect import detect_mime
from ingest.loaders.document import SECTION_SEPARATOR, LoadedDocument, Section
from ingest.loaders.load import count_units, load_bytes, load_path, size_error

__all__ = [
    "SECTION_SEPARATOR",
    "LoadedDocument",
    "Section",
    "count_units",
    "detect_mime",
    "load_bytes",
    "load_path",
    "size_error",
]
