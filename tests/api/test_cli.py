"""The `rag` command line, run in-process with typer's runner against a real data dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.conftest import SAMPLE_DOCUMENTS


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # no stray .env or ./.rag from the repo
    data_dir = tmp_path / "cli-store"
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["--data-dir", str(data_dir), *args])
        return result.exit_code, result.stdout

    return invoke


def test_ingest_json_summary_then_unchanged(run, sample_dir: Path) -> None:
    code, output = run("ingest", str(sample_dir), "--json")
    assert code == 0, output
    summary = json.loads(output)
    assert summary["added"] == SAMPLE_DOCUMENTS and summary["failed"] == 0
    code, output = run("ingest", str(sample_dir), "--json")
    assert code == 0
    again = json.loads(output)
    assert again["unchanged"] == SAMPLE_DOCUMENTS and again["chunks_embedded"] == 0


def test_ingest_exits_1_when_a_file_fails(run, tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_text("Tyre levers help remove a tyre.")
    (tmp_path / "junk.pdf").write_bytes(b"junk")
    code, output = run("ingest", str(tmp_path / "ok.txt"), str(tmp_path / "junk.pdf"), "--json")
    assert code == 1
    summary = json.loads(output)
    assert summary["added"] == 1 and summary["failed"] == 1
    assert "PDF header" in summary["errors"][0]["message"]


def test_documents_list_show_delete_and_stats(run, sample_dir: Path) -> None:
    run("ingest", str(sample_dir / "handbook.md"), "--collection", "docs")
    code, output = run("documents", "list", "--collection", "docs", "--json")
    assert code == 0
    [document] = json.loads(output)
    assert document["title"] == "Harbor Lane Bicycle Co-op Handbook"
    code, output = run("documents", "show", str(document["id"]), "--json")
    shown = json.loads(output)
    assert shown["chunks"] == len(shown["chunk_list"]) > 0
    assert any(c["section"] and "Membership" in c["section"] for c in shown["chunk_list"])
    code, output = run("stats", "--json")
    stats = json.loads(output)
    assert stats["documents"] == 1 and stats["faiss_vectors"] == stats["chunks"]
    code, _ = run("documents", "delete", str(document["id"]), "--json")
    assert code == 0
    code, output = run("stats", "--json")
    assert json.loads(output)["chunks"] == 0
    code, _ = run("documents", "show", str(document["id"]))
    assert code == 1


def test_search_and_ask_json(sample_store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    base = ["--data-dir", str(sample_store.data_dir)]
    result = runner.invoke(app, [*base, "search", "flat tyre patch", "--k", "2", "--json"])
    assert result.exit_code == 0, result.stdout
    hits = json.loads(result.stdout)["hits"]
    assert len(hits) == 2 and hits[0]["source"].endswith("repair-flat-tire.md")
    filtered = runner.invoke(
        app, [*base, "search", "money", "--filter", "source_glob=*.pdf", "--json"]
    )
    assert all(h["source"].endswith(".pdf") for h in json.loads(filtered.stdout)["hits"])
    bad = runner.invoke(app, [*base, "search", "x", "--filter", "colour=red"])
    assert bad.exit_code == 2
    refused = runner.invoke(app, [*base, "ask", "What is the capital of Mongolia?", "--json"])
    assert refused.exit_code == 0
    assert json.loads(refused.stdout)["refused"] is True
    streamed = runner.invoke(
        app, [*base, "ask", "When is the workshop open on Saturday?", "--stream", "--json",
              "--max-tokens", "32"],
    )  # fmt: skip
    events = [json.loads(line) for line in streamed.stdout.splitlines()]
    assert events[-1]["event"] == "final" and events[-1]["citations"]
    assert all(e["event"] == "token" for e in events[:-1])


def test_batch_is_resumable_and_reports_bad_rows(
    sample_store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        '{"id": "a", "question": "How much does a yearly membership cost?"}\n'
        "{not json\n"
        '"What is the capital of Mongolia?"\n'
    )
    output = tmp_path / "answers.jsonl"
    runner = CliRunner()
    base = ["--data-dir", str(sample_store.data_dir)]
    first = runner.invoke(
        app, [*base, "batch", str(questions), "-o", str(output), "--json", "--max-tokens", "24"]
    )
    assert first.exit_code == 1  # one bad row
    summary = json.loads(first.stdout)
    assert summary["answered"] == 2 and len(summary["bad_rows"]) == 1
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "3"]
    assert rows[0]["citations"] and rows[1]["refused"]
    second = runner.invoke(app, [*base, "batch", str(questions), "-o", str(output), "--json"])
    again = json.loads(second.stdout)
    assert again["answered"] == 0 and again["skipped_already_answered"] == 2
    assert len(output.read_text().splitlines()) == 2


def test_keys_create_turns_auth_on(run, tmp_path: Path) -> None:
    code, output = run("keys", "create", "--collection", "team", "--json")
    assert code == 0
    created = json.loads(output)
    assert created["key"].startswith("rag_") and created["collections"] == ["team"]
    from api.auth import hash_key
    from rag.settings import Settings
    from rag.storage.knowledge_base import KnowledgeBase
    from rag.storage.models import ApiKey

    kb = KnowledgeBase(Settings(data_dir=tmp_path / "cli-store", _env_file=None))  # type: ignore[call-arg]
    with kb.read_session() as session:
        row = session.query(ApiKey).one()
        assert row.key_hash == hash_key(created["key"]) and created["key"] not in row.key_hash
    kb.close()
