"""SIGKILL the ingest process at spread-out moments and check that nothing is lost or torn.

The kill times are fractions of a measured full run, so they land during start-up and
parsing, embedding, the many small commits (the group size is tiny on purpose) and the final
FAISS save. After every kill the store must be consistent (DB, FTS and FAISS hold the same
chunk ids once reopened), every visible document must be whole, and a re-run must finish
with exactly one document per file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rag.settings import Settings
from rag.storage.doctor import diagnose
from rag.storage.knowledge_base import KnowledgeBase
from rag.storage.models import Chunk, Document
from tests.stores import cli_args

TRIALS = int(os.environ.get("RAG_KILL_TRIALS", "20"))
FILES = 40


def write_corpus(folder: Path, version: int) -> None:
    folder.mkdir(exist_ok=True)
    for i in range(FILES):
        # Every trial changes a third of the files, so replacements get interrupted too.
        edition = version if i % 3 == version % 3 else 0
        body = " ".join(
            f"Document {i} edition {edition} sentence {j} about wheels, gears and brakes."
            for j in range(60)
        )
        (folder / f"doc-{i:03d}.txt").write_text(body)


def ingest_command(settings: Settings, folder: Path) -> list[str]:
    return [sys.executable, "-m", "api.cli", *cli_args(settings), "ingest", str(folder), "--json"]


def run_env() -> dict[str, str]:
    env = dict(os.environ)
    env["RAG_INGEST__EMBED_GROUP_CHUNKS"] = "8"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


def check_store(settings: Settings) -> tuple[int, int]:
    kb = KnowledgeBase(settings)
    try:
        report = diagnose(kb)
        assert report.consistent, report.to_dict()
        with kb.read_session() as session:
            documents = session.scalar(select(func.count(Document.id))) or 0
            without_chunks = session.scalar(
                select(func.count(Document.id)).where(~Document.chunks.any())
            )
            sources = session.scalars(select(Document.source)).all()
            ordinals = session.execute(
                select(Chunk.document_id, func.count(Chunk.id), func.max(Chunk.ordinal)).group_by(
                    Chunk.document_id
                )
            ).all()
        assert without_chunks == 0, "a document is visible without its chunks"
        assert len(sources) == len(set(sources)), "duplicate documents"
        for _, count, last in ordinals:
            assert count == last + 1, "a document is visible with part of its chunks"
        return int(documents), report.chunks
    finally:
        kb.close()


@pytest.mark.slow
def test_sigkill_during_ingest_loses_and_tears_nothing(tmp_path: Path, settings: Settings) -> None:
    folder = tmp_path / "corpus"
    env = run_env()
    write_corpus(folder, 0)
    subprocess.run(ingest_command(settings, folder), env=env, check=True, capture_output=True)
    assert check_store(settings)[0] == FILES
    # Kill times are spread over the length of a typical run that replaces a third of the
    # files (start-up and model load included).
    write_corpus(folder, TRIALS + 1)
    started = time.monotonic()
    subprocess.run(ingest_command(settings, folder), env=env, check=True, capture_output=True)
    update_run = time.monotonic() - started

    killed = 0
    for trial in range(1, TRIALS + 1):
        write_corpus(folder, trial)
        process = subprocess.Popen(
            ingest_command(settings, folder), env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(update_run * (0.05 + 0.9 * (trial - 1) / max(1, TRIALS - 1)))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            killed += 1
        process.wait()
        documents, _ = check_store(settings)
        assert documents == FILES  # committed documents survive; replacements are atomic

    assert killed >= TRIALS * 2 // 3, f"only {killed} of {TRIALS} runs were killed mid-way"
    finished = subprocess.run(
        ingest_command(settings, folder), env=env, check=True, capture_output=True, text=True
    )
    assert '"failed": 0' in finished.stdout
    assert check_store(settings)[0] == FILES
