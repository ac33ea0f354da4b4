"""The Spark session both Spark engines use (ingestion, batch Q&A), and the clear errors
when PySpark or Java is missing. PySpark is an optional extra: ``rag-backend[spark]``."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rag.errors import InvalidInputError
from rag.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SparkUnavailableError(InvalidInputError):
    """PySpark or Java is missing."""


def require_spark() -> None:
    """A clear sentence instead of an ImportError or a JVM stack trace."""
    if importlib.util.find_spec("pyspark") is None:
        raise SparkUnavailableError(
            "the Spark engine needs PySpark: pip install 'rag-backend[spark]'"
        )
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and Path(java_home, "bin", "java").exists()) and not shutil.which("java"):
        raise SparkUnavailableError(
            "the Spark engine needs Java 17 or newer (no `java` on PATH and no JAVA_HOME)"
        )


def spark_session(master: str) -> SparkSession:
    """The session for ``master`` (an existing one in this process is reused as it is)."""
    require_spark()
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName("rag-backend")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.python.worker.reuse", "true")
    )
    offline = {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    for name, value in offline.items():  # executors on other machines: no downloads either
        builder = builder.config(f"spark.executorEnv.{name}", os.environ.get(name, value))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def executor_settings_json(settings: Settings) -> str:
    """The settings as executors rebuild them: absolute paths (a relative data dir means
    nothing in an executor's working directory) and one ONNX thread per task unless
    configured (Spark already runs a task per core)."""
    embedding = settings.embedding
    if embedding.threads == 0:
        embedding = embedding.model_copy(update={"threads": 1})
    update: dict[str, Any] = {"data_dir": settings.data_dir.resolve(), "embedding": embedding}
    if not settings.database_url:
        update["database_url"] = settings.resolved_database_url
    return settings.model_copy(update=update).model_dump_json()


T = TypeVar("T")
_PER_EXECUTOR: dict[tuple[str, str], Any] = {}
_PER_EXECUTOR_LOCK = threading.Lock()


def per_executor(kind: str, settings_json: str, build: Callable[[Settings], T]) -> T:
    """The ``kind`` of object (an ingestor, an answerer: models, store connection) built once
    per executor Python process and settings, reused by every task the process runs
    (Spark reuses its Python workers)."""
    with _PER_EXECUTOR_LOCK:
        key = (kind, settings_json)
        if key not in _PER_EXECUTOR:
            _PER_EXECUTOR[key] = build(Settings.model_validate_json(settings_json))
        value: T = _PER_EXECUTOR[key]
        return value
