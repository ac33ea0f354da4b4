"""A battery of hostile files in one upload: each gets a specific error or a correct ingest,
the server never answers 500, and the good files of the same batch still ingest."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.helpers import make_settings, upload, wait_for_job
from tests.filemakers import make_encrypted_pdf, make_pdf


@pytest.mark.slow
def test_hostile_files_in_one_upload(tmp_path: Path) -> None:
    good_pdf = make_pdf(tmp_path / "good.pdf", ["Spoke tension is measured with a tensiometer."])
    encrypted = make_encrypted_pdf(tmp_path / "locked.pdf", "secret")
    depth = 3000
    files: list[tuple[str, bytes]] = [
        ("good.txt", b"Valve caps keep dirt out of the valve."),
        ("good.pdf", good_pdf.read_bytes()),
        ("empty.txt", b""),
        ("junk.pdf", bytes(range(256)) * 40),
        ("junk.txt", bytes(range(256)) * 40),
        ("truncated.pdf", good_pdf.read_bytes()[:200]),
        ("locked.pdf", encrypted.read_bytes()),
        ("deep.html", b"<html><body>" + b"<div>" * depth + b"deep text" + b"</div>" * depth),
        ("latin1.txt", "café crème brûlée".encode("latin-1")),
        ("utf16.txt", "UTF-16 text with a byte order mark".encode("utf-16")),
        ("nul.md", b"# Title\x00\x00 binary"),
        ("long-line.txt", b"word " * 200_000),
        ("../../escape.txt", b"Path tricks are reduced to the last name."),
        ("/etc/absolute.txt", b"Absolute paths too."),
        ("\u00fcnic\u00f8de.md", "# Ünicode\nNames with accents work.".encode()),
        ("dup.txt", b"first duplicate"),
        ("dup.txt", b"second duplicate"),
    ]
    settings = make_settings(tmp_path / "store", max_upload_bytes=5_000_000)
    with TestClient(create_app(settings, load_llm=False)) as client:
        response = upload(client, files, "hostile")
        assert response.status_code == 202, response.text
        job = wait_for_job(client, response.json()["job_id"], timeout=300)
        assert job["status"] == "succeeded"
        errors = {e["source"].removeprefix("upload://"): e for e in job["errors"]}
        assert set(errors) == {
            "empty.txt", "junk.pdf", "junk.txt", "truncated.pdf", "locked.pdf", "latin1.txt",
            "nul.md",
        }  # fmt: skip
        assert errors["locked.pdf"]["error"] == "CorruptFileError"
        assert errors["latin1.txt"]["error"] == "DecodeError"
        assert errors["empty.txt"]["error"] == "EmptyDocumentError"
        documents = client.get("/v1/documents", params={"collection": "hostile"}).json()
        sources = {d["source"].removeprefix("upload://") for d in documents["items"]}
        assert sources == {
            "good.txt", "good.pdf", "deep.html", "utf16.txt", "long-line.txt", "escape.txt",
            "absolute.txt", "ünicøde.md", "dup.txt", "dup (2).txt",
        }  # fmt: skip
        hits = client.post(
            "/v1/search",
            json={"query": "spoke tensiometer", "filters": {"collections": ["hostile"]}},
        ).json()["hits"]
        assert hits[0]["source"] == "upload://good.pdf" and hits[0]["page"] == 1
        assert client.get("/readyz").status_code == 200

        # A 50 MB text file against a 5 MB cap: refused while streaming, nothing stored.
        huge = upload(client, [("huge.txt", b"0123456789abcdef\n" * (50 * 1024 * 1024 // 17))])
        assert huge.status_code == 413
        assert "upload limit" in huge.json()["error"]["message"]
        leftovers = [p for p in settings.uploads_dir.rglob("*") if p.is_file()]
        assert leftovers == []
