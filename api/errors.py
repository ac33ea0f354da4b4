"""The one place where domain errors become HTTP responses: ``{"error": {"type", "message"}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import (
    AuthenticationError,
    BusyError,
    ConflictError,
    DocumentError,
    EmbeddingModelMismatchError,
    FileTooLargeError,
    InvalidInputError,
    ModelUnavailableError,
    NotFoundError,
    PermissionDeniedError,
    RagError,
    UnsupportedFileError,
)

log = logging.getLogger(__name__)

# Most specific first: the first matching class decides the status.
STATUS_BY_ERROR: tuple[tuple[type[RagError], int], ...] = (
    (NotFoundError, 404),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (BusyError, 429),
    (FileTooLargeError, 413),
    (UnsupportedFileError, 415),
    (DocumentError, 422),
    (InvalidInputError, 422),
    (EmbeddingModelMismatchError, 409),
    (ConflictError, 409),
    (ModelUnavailableError, 503),
)


def status_for(error: RagError) -> int:
    for error_type, status in STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return status
    return 400


def error_body(error_type: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"type": error_type, "message": message}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RagError)
    async def _domain_error(_: Request, exc: RagError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, BusyError) else None
        if isinstance(exc, AuthenticationError):
            headers = {"WWW-Authenticate": "Bearer"}
        return JSONResponse(
            error_body(type(exc).__name__, str(exc)), status_code=status_for(exc), headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for item in exc.errors():
            where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
            problems.append(f"{where}: {item.get('msg', 'invalid')}" if where else item["msg"])
        return JSONResponse(
            error_body("ValidationError", "; ".join(problems) or "invalid request"),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body("HTTPError", str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(
            error_body("InternalError", "an unexpected error occurred; see the server log"),
            status_code=500,
        )
