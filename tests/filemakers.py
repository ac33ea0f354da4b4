"""Build test files in code (PDF, DOCX, broken variants) instead of downloading any."""

from __future__ import annotations

import io
from pathlib import Path


def make_pdf(path: Path, pages: list[str], *, title: str = "") -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    path.write_bytes(bytes(pdf.output()))
    return path


def make_encrypted_pdf(path: Path, text: str) -> Path:
    from pypdf import PdfReader, PdfWriter

    plain = make_pdf(path.with_suffix(".plain.pdf"), [text])
    writer = PdfWriter()
    for page in PdfReader(plain).pages:
        writer.add_page(page)
    writer.encrypt(user_password="secret", owner_password="owner")
    buffer = io.BytesIO()
    writer.write(buffer)
    plain.unlink()
    path.write_bytes(buffer.getvalue())
    return path


def make_docx(path: Path, *, title: str, sections: dict[str, list[str]]) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    for heading, paragraphs in sections.items():
        document.add_heading(heading, level=1)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    document.save(str(path))
    return path
