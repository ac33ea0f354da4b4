"""Domain errors. ``api/`` maps each class to an HTTP status in one place; nothing below
``api/`` knows about HTTP, and nobody matches on message strings."""

from __future__ import annotations


class RagError(Exception):
    """Base class of every error this backend raises on purpose."""


class NotFoundError(RagError):
    """A collection, document, chunk or job does not exist (or is not visible)."""


class ConflictError(RagError):
    """The request contradicts the current state (e.g. a collection that already exists)."""


class InvalidInputError(RagError):
    """A request argument is malformed or out of range."""


class DocumentError(RagError):
    """A file could not be turned into text. Carries the source for per-file reports."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.reason = message


class UnsupportedFileError(DocumentError):
    """The file type is not one we can read."""


class CorruptFileError(DocumentError):
    """The file claims a type we support but cannot be parsed."""


class EmptyDocumentError(DocumentError):
    """The file parsed but holds no text."""


class DecodeError(DocumentError):
    """Text whose encoding cannot be determined or that contains binary data."""


class FileTooLargeError(DocumentError):
    """The file exceeds the configured size cap."""


class EmbeddingModelMismatchError(RagError):
    """The store was built with another embedding model; vectors are never mixed."""

    def __init__(self, stored: str, stored_dim: int, configured: str, configured_dim: int) -> None:
        super().__init__(
            f"the index holds vectors of embedding model '{stored}' ({stored_dim} dims) but "
            f"'{configured}' ({configured_dim} dims) is configured; run `rag reembed` to "
            "re-embed every chunk with the configured model, or use another data dir"
        )
        self.stored = stored
        self.configured = configured


class ModelUnavailableError(RagError):
    """A configured model file or directory is missing."""


class LLMServerError(ModelUnavailableError):
    """An LLM server of the pool failed or cannot be reached."""


class BusyError(RagError):
    """The LLM queue is full; try again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermissionDeniedError(RagError):
    """The caller is known but not allowed to do this (a key without the role)."""


class AuthenticationError(RagError):
    """A missing or invalid API key."""
