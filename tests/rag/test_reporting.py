"""The quality report, computed from a seeded answer log with known numbers (on each database
backend), through the library, the CLI and the HTTP API."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from rag.reporting import ALL, load_quality_report
from rag.settings import LLMSettings, Settings
from rag.storage import answer_log
from rag.storage.knowledge_base import KnowledgeBase
from tests.stores import cli_args

DAY1 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
DAY2 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)

# (id, when, collection, question, refusal reason or None, support, sentences, unsupported,
#  citations, latency ms, feedback ratings)
SEED = [
    ("a1", DAY1, "bikes", "When is the shop open?", None, 0.5, 2, 1, 1, 100, [1]),
    ("a2", DAY1, "bikes", "How much is a service?", None, 0.7, 2, 0, 2, 200, [-1]),
    ("a3", DAY1, "bikes", "Who fixes brakes?", None, 0.9, 1, 0, 3, 300, [5]),
    ("a4", DAY1, "bikes", "Who founded the co-op?", "no_relevant_sources", 0, 0, 0, 0, 400, []),
    ("a5", DAY2, "bikes", "who founded the co-op", "model_declined", 0, 0, 0, 0, 50, []),
    ("a6", DAY2, "bikes", "Opening hours on Sunday?", "no_relevant_sources", 0, 0, 0, 0, 70, []),
    ("a7", DAY2, "", "What does a tube cost?", None, 0.6, 3, 3, 1, 1000, [2]),
]


def seed(kb: KnowledgeBase) -> None:
    with kb.write_session.begin() as session:
        for aid, when, collection, question, reason, support, sentences, bad, cites, ms, _ in SEED:
            answer_log.log_answer(
                session, answer_id=aid, question=question, standalone_question=question,
                answer="refused" if reason else f"answer to {question}",
                retrieved_chunk_ids=[1, 2, 3], cited_chunk_ids=list(range(cites)),
                grounded=reason is None and bad == 0, refused=reason is not None,
                latency_ms=float(ms), endpoint="ask", collection=collection,
                refusal_reason=reason, support_score=support, sentences=sentences,
                unsupported_sentences=bad, created_at=when,
            )  # fmt: skip
    with kb.write_session.begin() as session:
        for aid, *_, ratings in SEED:
            for rating in ratings:
                comment = "wrong price" if rating == 2 else ""
                answer_log.add_feedback(session, answer_id=aid, rating=rating, comment=comment)


def test_the_report_of_a_seeded_log(kb: KnowledgeBase) -> None:
    seed(kb)
    report = load_quality_report(kb)
    bikes = report["by_collection"]["bikes"]
    assert bikes == {
        "answers": 6, "refusals": 3, "refusal_rate": 0.5,
        "refusals_by_reason": {"model_declined": 1, "no_relevant_sources": 2},
        "feedback": 3, "positive_share": round(2 / 3, 4),  # thumbs up and a 5; a thumbs down
        "mean_support_score": 0.7, "unsupported_sentence_rate": 0.2,  # 1 of 5 sentences
        "citations_per_answer": 2.0, "latency_p50_ms": 150.0, "latency_p95_ms": 375.0,
    }  # fmt: skip
    day1, day2_all, day2_bikes = report["by_day"]
    assert (day1["day"], day1["collection"], day1["answers"]) == ("2026-11-24", "bikes", 4)
    assert (day1["refusal_rate"], day1["latency_p50_ms"]) == (0.25, 250.0)
    assert (day2_bikes["day"], day2_bikes["refusal_rate"]) == ("2026-11-25", 1.0)
    assert day2_bikes["positive_share"] is None  # no feedback that day
    assert (day2_all["collection"], day2_all["positive_share"]) == (ALL, 0.0)
    assert report["totals"]["answers"] == len(SEED)
    assert [(n["answer_id"], n["rating"]) for n in report["negative_feedback"]] == [
        ("a7", 2),  # newest first
        ("a2", -1),
    ]
    assert report["negative_feedback"][0]["comment"] == "wrong price"
    refused = report["top_refused_questions"]
    assert refused[0] == {
        "question": "Who founded the co-op?",  # the same question, however it was typed
        "count": 2,
        "reasons": {"no_relevant_sources": 1, "model_declined": 1},
    }
    assert refused[1]["count"] == 1
    # A period and a collection.
    later = load_quality_report(kb, since=date(2026, 11, 25), collection="bikes")
    assert later["totals"]["answers"] == 2 and later["totals"]["refusal_rate"] == 1.0
    assert list(later["by_collection"]) == ["bikes"]


def test_report_cli_json_and_html(kb: KnowledgeBase, settings: Settings, tmp_path: Path) -> None:
    seed(kb)
    runner = CliRunner()
    result = runner.invoke(cli, [*cli_args(settings), "report", "--since", "2026-11-25", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["answers"] == 3
    page = tmp_path / "report.html"
    result = runner.invoke(cli, [*cli_args(settings), "report", "--html", str(page)])
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert text.count('src="data:image/png;base64,') == 1  # the plots, inside the file
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert "Who founded the co-op?" in text and "wrong price" in text
    bad = runner.invoke(cli, [*cli_args(settings), "report", "--since", "yesterday"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


@pytest.mark.parametrize("backend", ["sqlite"])  # the SQL is covered above on both
def test_report_endpoint(kb: KnowledgeBase, settings: Settings, backend: str) -> None:
    assert backend == "sqlite"
    seed(kb)
    with TestClient(create_app(settings, load_llm=False)) as client:
        response = client.get("/v1/reports/quality", params={"collection": "bikes"})
        assert response.status_code == 200
        assert response.json()["by_collection"]["bikes"]["refusals"] == 3
        page = client.get("/v1/reports/quality", params={"format": "html"})
        assert page.headers["content-type"].startswith("text/html")
        assert "data:image/png;base64," in page.text
        assert client.get("/v1/reports/quality", params={"since": "soon"}).status_code == 422


@pytest.mark.parametrize("backend", ["sqlite"])
def test_answers_asked_through_the_api_reach_the_report(settings: Settings, backend: str) -> None:
    assert backend == "sqlite"
    settings = settings.model_copy(update={"llm": LLMSettings(preset="tiny")})
    with TestClient(create_app(settings, load_llm=False)) as client:
        asked = {
            "question": "What is the capital of Mongolia?",
            "filters": {"collections": ["default"]},
        }
        answer = client.post("/v1/ask", json=asked).json()  # nothing stored: refused
        assert answer["refused"] and answer["refusal_reason"] == "no_relevant_sources"
        client.post("/v1/feedback", json={"answer_id": answer["answer_id"], "rating": -1})
        report = client.get("/v1/reports/quality", params={"collection": "default"}).json()
    assert report["totals"]["answers"] == 1
    assert report["by_collection"]["default"]["refusals_by_reason"] == {"no_relevant_sources": 1}
    assert [n["answer_id"] for n in report["negative_feedback"]] == [answer["answer_id"]]
    assert report["top_refused_questions"][0]["question"] == "What is the capital of Mongolia?"


def tiny_beir(folder: Path) -> list[str]:
    folder.mkdir()
    docs = {
        "d1": "The workshop opens at ten on Saturdays.",
        "d2": "Brake pads with worn grooves must be replaced.",
        "d3": "Students pay twenty euros a year for membership.",
    }
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in docs.items())
    )
    queries = {"q1": "When does the workshop open on Saturday?", "q2": "worn brake pads"}
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in queries.items())
    )
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    return [
        "eval", "retrieval", "--corpus", str(folder / "corpus.jsonl"),
        "--queries", str(folder / "queries.jsonl"), "--qrels", str(folder / "qrels.tsv"),
    ]  # fmt: skip


@pytest.mark.parametrize("backend", ["sqlite"])
def test_saved_evaluations_make_a_trend_and_gate_a_pipeline(
    settings: Settings, tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert backend == "sqlite"
    monkeypatch.setenv("RAG_COMMIT", "abc123")
    runner = CliRunner()
    evaluate = [*cli_args(settings), *tiny_beir(tmp_path / "beir")]
    for mode in ("hybrid", "dense"):
        saved = runner.invoke(cli, [*evaluate, "--mode", mode, "--save", "--json"])
        assert saved.exit_code == 0, saved.output
    report = runner.invoke(cli, [*cli_args(settings), "report", "--json"])
    first, second = json.loads(report.stdout)["evaluations"]
    assert (first["kind"], first["commit"], first["collection"]) == (
        "retrieval",
        "abc123",
        "eval-beir",
    )
    assert first["metrics"]["ndcg_at_10"] == pytest.approx(1.0)  # two easy queries
    assert first["change"] == {} and "ndcg_at_10" in second["change"]
    assert first["models"]["llm"] == "preset:quality"
    page = tmp_path / "report.html"
    runner.invoke(cli, [*cli_args(settings), "report", "--html", str(page)])
    assert "Evaluation runs" in page.read_text() and "abc123" in page.read_text()
    gated = runner.invoke(cli, [*evaluate, "--fail-under", "ndcg_at_10=1.01"])
    assert gated.exit_code == 1 and "ndcg_at_10 1 < 1.01" in gated.output
    passed = runner.invoke(cli, [*evaluate, "--fail-under", "recall_at_10=0.5"])
    assert passed.exit_code == 0, passed.output
    unknown = runner.invoke(cli, [*evaluate, "--fail-under", "accuracy=0.5"])
    assert unknown.exit_code == 2 and "does not report" in unknown.output
