from __future__ import annotations

from pathlib import Path

import pytest

from ingest.loaders import LoadedDocument, load_path
from ingest.loaders.detect import (
    MIME_BEIR,
    MIME_DOCX,
    MIME_HTML,
    MIME_MARKDOWN,
    MIME_PDF,
    MIME_TEXT,
)
from ingest.loaders.markdown import markdown_sections
from rag.errors import (
    CorruptFileError,
    DecodeError,
    DocumentError,
    EmptyDocumentError,
    FileTooLargeError,
    UnsupportedFileError,
)
from tests.conftest import SAMPLE_DATA
from tests.filemakers import make_docx, make_encrypted_pdf, make_pdf

MAX = 10 * 1024 * 1024


def load_one(path: Path) -> LoadedDocument:
    results = list(load_path(path, max_bytes=MAX))
    assert len(results) == 1
    result = results[0]
    assert isinstance(result, LoadedDocument), result
    return result


def load_error(path: Path, *, max_bytes: int = MAX) -> DocumentError:
    results = list(load_path(path, max_bytes=max_bytes))
    assert len(results) == 1
    result = results[0]
    assert isinstance(result, DocumentError), result
    return result


def test_plain_text_keeps_content_and_titles_from_first_line() -> None:
    doc = load_one(SAMPLE_DATA / "brake-adjustment.txt")
    assert doc.mime_type == MIME_TEXT
    assert doc.title == "Adjusting rim brakes"
    assert "barrel adjuster" in doc.text
    assert len(doc.content_hash) == 64


def test_markdown_is_split_at_headings_with_a_heading_path() -> None:
    doc = load_one(SAMPLE_DATA / "handbook.md")
    assert doc.mime_type == MIME_MARKDOWN
    headings = [s.heading for s in doc.sections]
    assert "Harbor Lane Bicycle Co-op Handbook > Opening hours" in headings
    hours = next(s for s in doc.sections if s.heading and s.heading.endswith("Opening hours"))
    assert "Saturday from 10:00" in hours.text


def test_markdown_ignores_hash_lines_inside_code_fences() -> None:
    sections = markdown_sections("# Top\ntext\n```\n# not a heading\n```\n## Sub\nmore")
    assert [s.heading for s in sections] == ["Top", "Top > Sub"]
    assert "# not a heading" in sections[0].text


def test_html_drops_scripts_and_keeps_title_and_sections() -> None:
    doc = load_one(SAMPLE_DATA / "history.html")
    assert doc.mime_type == MIME_HTML
    assert doc.title == "History of the Harbor Lane Bicycle Co-op"
    assert "console.log" not in doc.text
    assert "font-family" not in doc.text
    moving = next(s for s in doc.sections if s.heading == "Our history > Moving to Harbor Lane")
    assert "rope factory" in moving.text


def test_html_is_detected_by_content_without_an_extension(tmp_path: Path) -> None:
    path = tmp_path / "page"
    path.write_text("<!doctype html><html><body><h1>Hi</h1><p>Body text</p></body></html>")
    doc = load_one(path)
    assert doc.mime_type == MIME_HTML
    assert "Body text" in doc.text


def test_deeply_nested_html_loads_without_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.html"
    depth = 5000
    path.write_text(
        "<html><body>" + "<div>" * depth + "deep text" + "</div>" * depth + "</body></html>"
    )
    results = list(load_path(path, max_bytes=MAX))
    assert len(results) == 1
    result = results[0]
    if isinstance(result, LoadedDocument):
        assert "deep text" in result.text
    else:
        assert isinstance(result, CorruptFileError)


def test_multi_page_pdf_keeps_page_numbers(tmp_path: Path) -> None:
    path = make_pdf(
        tmp_path / "report.pdf",
        ["First page about tyres.", "Second page about brakes.", "Third page about chains."],
        title="Annual report",
    )
    doc = load_one(path)
    assert doc.mime_type == MIME_PDF
    assert doc.title == "Annual report"
    assert [s.page for s in doc.sections] == [1, 2, 3]
    assert "brakes" in doc.sections[1].text


def test_truncated_pdf_is_a_corrupt_file_error(tmp_path: Path) -> None:
    good = make_pdf(tmp_path / "good.pdf", ["Some text " * 50])
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(good.read_bytes()[:300])
    error = load_error(broken)
    assert isinstance(error, CorruptFileError | EmptyDocumentError)
    assert error.source == str(broken)


def test_binary_junk_named_pdf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.pdf"
    path.write_bytes(bytes(range(256)) * 10)
    error = load_error(path)
    assert isinstance(error, CorruptFileError)
    assert "PDF header" in error.reason


def test_encrypted_pdf_is_refused_with_a_clear_reason(tmp_path: Path) -> None:
    path = make_encrypted_pdf(tmp_path / "locked.pdf", "secret content")
    error = load_error(path)
    assert isinstance(error, CorruptFileError)
    assert "encrypted" in error.reason


def test_docx_sections_follow_headings(tmp_path: Path) -> None:
    path = make_docx(
        tmp_path / "guide.docx",
        title="Volunteer guide",
        sections={"Shifts": ["Shifts last three hours."], "Training": ["Training is free."]},
    )
    doc = load_one(path)
    assert doc.mime_type == MIME_DOCX
    assert doc.title == "Volunteer guide"
    assert [s.heading for s in doc.sections] == ["Shifts", "Training"]
    assert "three hours" in doc.sections[0].text


def test_beir_jsonl_yields_one_document_per_row_and_reports_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text(
        '{"_id": "d1", "title": "T1", "text": "alpha"}\n'
        "not json\n"
        '{"_id": "d2", "title": "", "text": "beta", "metadata": {"year": 2020}}\n'
    )
    results = list(load_path(path, max_bytes=MAX))
    docs = [r for r in results if isinstance(r, LoadedDocument)]
    errors = [r for r in results if isinstance(r, DocumentError)]
    assert [d.source for d in docs] == ["d1", "d2"]
    assert all(d.mime_type == MIME_BEIR and d.origin == str(path) for d in docs)
    assert docs[0].text == "T1\n\nalpha"
    assert docs[1].metadata["corpus_metadata"] == {"year": 2020}
    assert len(errors) == 1 and errors[0].source == f"{path}:2"


def test_utf16_with_bom_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "utf16.txt"
    path.write_bytes("Ünïcode text in UTF-16".encode("utf-16"))
    assert load_one(path).text == "Ünïcode text in UTF-16"


def test_invalid_utf8_is_a_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("café crème".encode("latin-1"))
    error = load_error(path)
    assert isinstance(error, DecodeError)
    assert "UTF-8" in error.reason


def test_nul_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "nul.txt"
    path.write_bytes(b"text\x00with nul")
    assert isinstance(load_error(path), DecodeError)


def test_empty_and_whitespace_files_are_empty_document_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.md").write_text("   \n\n  ")
    assert isinstance(load_error(tmp_path / "empty.txt"), EmptyDocumentError)
    assert isinstance(load_error(tmp_path / "blank.md"), EmptyDocumentError)


def test_unknown_binary_type_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    error = load_error(path)
    assert isinstance(error, UnsupportedFileError)
    assert ".png" in error.reason


def test_size_cap_is_enforced_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("x" * 2000)
    assert isinstance(load_error(path, max_bytes=1000), FileTooLargeError)


@pytest.mark.parametrize("name", ["a.txt", "b.md"])
def test_multibyte_character_at_sample_boundary_is_fine(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("a" * 65535 + "é" + " tail")  # é straddles the 64 KiB sniffing window
    assert load_one(path).text.endswith("é tail")
