"""The ``rag`` command line (see ``api/cli/main.py``)."""

from api.cli.main import app, main

__all__ = ["app", "main"]
