"""The playground page in a real browser: Playwright driving Debian's Chromium headless
against a served API (keys on and the default model; one test scripts the answer stream)."""

from __future__ import annotations

import json
import shutil
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.auth import Role, create_key
from api.local_server import serve_in_background
from rag.storage.knowledge_base import KnowledgeBase
from tests.api.helpers import make_settings

pytestmark = pytest.mark.slow

SHED = """# Lindenweg bike shed

## Opening hours

The Lindenweg bike shed opens at 07:15 on weekdays and at 09:00 on Saturdays.
It is closed on Sundays and on public holidays.

## Rules

Bikes left in the shed for longer than 30 days are removed by the caretaker.
"""
QUESTION = "When does the Lindenweg bike shed open on weekdays?"


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Chromium is not installed (apt-get install chromium; .ci/run does it)")
    return path


def test_upload_ask_cite_and_rate_in_the_browser(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    settings = make_settings(tmp_path / "store")
    with closing(KnowledgeBase(settings)) as kb, kb.write_session.begin() as session:
        _, token = create_key(session, roles=[Role.ADMIN])  # keys on: the page must ask
    document = tmp_path / "shed.md"
    document.write_text(SHED)
    with serve_in_background(create_app(settings)) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page()
        page.set_default_timeout(240_000)  # the first answer loads the model on 2 cores
        page.goto(f"{base}/")
        page.wait_for_selector("#key-section:not([hidden])")
        page.fill("#key", token)
        page.click("#use-key")

        page.fill("#new-collection", "play")
        page.click("#create-collection")
        page.wait_for_function("document.getElementById('collection').value === 'play'")
        page.set_input_files("#files", str(document))
        page.click("#upload")
        page.wait_for_function("document.getElementById('job').textContent.includes('succeeded')")
        assert "1 of 1 files" in page.text_content("#job")

        page.fill("#question", QUESTION)
        page.click("#ask")
        # Streamed: text is on the page while the answer is still being made.
        page.wait_for_function(
            "document.getElementById('answer').textContent.length > 0"
            " && document.getElementById('answer-status').textContent === 'thinking…'"
        )
        page.wait_for_selector("a.citation")
        answer = page.text_content("#answer") or ""
        assert "07:15" in answer, answer
        assert "refused" not in (page.text_content("#answer-status") or "")

        page.click("a.citation >> nth=0")
        page.wait_for_selector("#passage:not([hidden])")
        assert "07:15" in (page.text_content("#passage-text mark") or "")
        assert "Lindenweg bike shed" in (page.text_content("#passage-meta") or "")

        page.click("#thumbs-down")
        page.wait_for_function(
            "document.getElementById('feedback-status').textContent.includes('recorded')"
        )
        page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)

        with page.expect_popup() as popup:
            page.click("#report")
        report = popup.value
        report.wait_for_load_state()
        negative = report.text_content("body") or ""
        assert "Questions with negative feedback" in negative and QUESTION in negative
        browser.close()
    assert (tmp_path / "playground.png").stat().st_size > 10_000


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def test_the_page_shows_the_checked_answer_not_the_streamed_draft(tmp_path: Path) -> None:
    """The checks after generation can move a citation or drop a marker the model wrote; the
    page must end on the answer the server returned. The stream is scripted (the test is
    about what the page does with the events), the page and the browser are real."""
    from playwright.sync_api import Route, sync_playwright

    citation = {
        "number": 1, "chunk_id": 1, "source": "tp.txt", "title": "Twilight Princess",
        "section": None, "page": None, "snippet": "Link's main weapon", "inferred": False,
    }  # fmt: skip
    done = {
        "answer_id": "a1", "answer": "The sword and shield [1].", "refused": False,
        "refusal_reason": None, "support_score": 0.8, "grounded": True,
        "citations": [citation],
    }  # fmt: skip
    events = (
        sse("token", {"text": "The sword and shield [c]"})
        + sse("token", {"text": " [2]."})
        + sse("citations", {"citations": [citation]})
        + sse("done", done)
    )

    def scripted(route: Route) -> None:
        route.fulfill(status=200, content_type="text/event-stream", body=events)

    settings = make_settings(tmp_path / "store")
    app = create_app(settings, load_llm=False)
    with serve_in_background(app) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page()
        page.route("**/v1/ask", scripted)
        page.goto(f"{base}/")
        page.fill("#question", "What is Link's main weapon?")
        page.click("#ask")
        page.wait_for_function(
            "document.getElementById('answer-status').textContent.startsWith('support')"
        )
        assert page.text_content("#answer") == "The sword and shield [1]."
        assert page.text_content("a.citation") == "[1] Twilight Princess"
        browser.close()
