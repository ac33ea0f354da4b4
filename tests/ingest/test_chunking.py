"""Token-aware, section-aware chunking with the real MiniLM tokenizer."""

from __future__ import annotations

import json

from ingest.chunking import make_chunker, pipeline_signature
from ingest.loaders import LoadedDocument, Section
from ingest.loaders.beir import beir_documents
from rag.embedding import Embedder


def document(*sections: Section) -> LoadedDocument:
    return LoadedDocument(
        source="s", origin="s", title="t", mime_type="text/plain", size_bytes=1,
        content_hash="h", sections=sections,
    )  # fmt: skip


def test_chunks_stay_within_a_section_and_point_into_the_text(
    embedder: Embedder,
) -> None:
    chunker = make_chunker(
        chunk_tokens=40, chunk_overlap=8, max_seq_length=256, tokens=embedder.tokens
    )
    long_body = " ".join(f"Sentence number {i} talks about spokes and rims." for i in range(30))
    doc = document(
        Section("Short intro about brakes.", page=1),
        Section(long_body, page=2, heading="Wheels > Truing"),
    )
    chunks = chunker.chunk(doc)
    assert chunks[0].page == 1 and chunks[0].text == "Short intro about brakes."
    assert len(chunks) > 3 and all(c.page == 2 for c in chunks[1:])
    assert all(c.section == "Wheels > Truing" for c in chunks[1:])
    for chunk in chunks:
        assert doc.text[chunk.char_start : chunk.char_end] == chunk.text
        assert chunk.token_count <= 40
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_an_unbreakable_run_is_cut_by_tokens(embedder: Embedder) -> None:
    chunker = make_chunker(
        chunk_tokens=20, chunk_overlap=0, max_seq_length=256, tokens=embedder.tokens
    )
    run = "-".join(["spoke"] * 300)  # no space, newline or sentence end to split at
    doc = document(Section(run))
    chunks = chunker.chunk(doc)
    assert len(chunks) > 10 and all(c.token_count <= 20 for c in chunks)
    assert all(doc.text[c.char_start : c.char_end] == c.text for c in chunks)


def test_the_signature_changes_with_what_would_change_the_chunks(
    embedder: Embedder,
) -> None:
    def signature(tokens: int, model: str) -> str:
        chunker = make_chunker(
            chunk_tokens=tokens, chunk_overlap=8, max_seq_length=256, tokens=embedder.tokens
        )
        return pipeline_signature(chunker.config, model)

    assert signature(100, "m") == signature(100, "m")
    assert signature(100, "m") != signature(120, "m")
    assert signature(100, "m") != signature(100, "other")


def test_each_distinct_piece_is_counted_once_per_document(embedder: Embedder) -> None:
    counted: list[str] = []

    class CountingTokens:
        def count(self, text: str) -> int:
            counted.append(text)
            return embedder.tokens.count(text)

        def offsets(self, text: str) -> list[tuple[int, int]]:
            return embedder.tokens.offsets(text)

    plain = make_chunker(
        chunk_tokens=40, chunk_overlap=8, max_seq_length=256, tokens=embedder.tokens
    )
    chunker = make_chunker(
        chunk_tokens=40,
        chunk_overlap=8,
        max_seq_length=256,
        tokens=CountingTokens(),  # type: ignore[arg-type]
    )
    body = " ".join(f"Sentence number {i} talks about spokes and rims." for i in range(30))
    doc = document(Section(body))
    chunks = chunker.chunk(doc)
    assert chunks == plain.chunk(doc)  # the same chunks as counting every time
    assert len(counted) == len(set(counted))  # the splitter asked for many texts twice
    # Nothing is kept after the document: the next one is counted afresh.
    counted.clear()
    chunker.chunk(doc)
    assert len(counted) == len(set(counted)) > 0


def test_a_heading_alone_opens_the_first_chunk_of_what_follows(embedder: Embedder) -> None:
    chunker = make_chunker(
        chunk_tokens=60, chunk_overlap=8, max_seq_length=256, tokens=embedder.tokens
    )
    doc = document(
        Section("# Fixing a flat tyre", heading="Fixing a flat tyre"),
        Section("## Tools", heading="Fixing a flat tyre > Tools"),
        Section(
            "## Removing the wheel\n\nOpen the quick release.",
            heading="Fixing a flat tyre > Removing the wheel",
        ),
        Section("## Inflating\n\nPump to 4 bar.", heading="Fixing a flat tyre > Inflating"),
        Section("# Notes", heading="Notes"),  # nothing follows: a chunk of its own
    )
    chunks = chunker.chunk(doc)
    assert [c.text.split("\n")[0] for c in chunks] == [
        "# Fixing a flat tyre",
        "## Inflating",
        "# Notes",
    ]
    assert chunks[0].text.endswith("Open the quick release.") and "## Tools" in chunks[0].text
    assert chunks[0].section == "Fixing a flat tyre > Removing the wheel"
    assert [c.ordinal for c in chunks] == [0, 1, 2]
    for chunk in chunks:
        assert doc.text[chunk.char_start : chunk.char_end] == chunk.text


def test_a_heading_stays_alone_across_pages_and_makes_room_in_a_full_body(
    embedder: Embedder,
) -> None:
    chunker = make_chunker(
        chunk_tokens=20, chunk_overlap=0, max_seq_length=256, tokens=embedder.tokens
    )
    full = " ".join(["spokes and rims"] * 4)  # 20 tokens: the chunk is full
    assert embedder.tokens.count(full) == 20
    heading = Section("# Wheels", heading="Wheels", page=1)
    across_pages = document(heading, Section("Truing takes patience.", page=2))
    paged = chunker.chunk(across_pages)
    assert [c.text for c in paged] == ["# Wheels", "Truing takes patience."]
    assert paged[0].page == 1 and paged[0].section == "Wheels"
    # On one page a full body is cut smaller, so that the heading still opens its first
    # chunk and no chunk is the heading alone.
    full_body = document(heading, Section(full, page=1))
    cut = chunker.chunk(full_body)
    assert cut[0].text.startswith("# Wheels\n\nspokes") and len(cut) == 2
    assert " ".join(c.text for c in cut).count("spokes") >= 4
    for doc, chunks in ((across_pages, paged), (full_body, cut)):
        assert all(doc.text[c.char_start : c.char_end] == c.text for c in chunks)
        assert all(c.token_count <= 20 for c in chunks)
    # Headings that would take half a chunk or more stay a chunk of their own.
    long_heading = Section(
        "# Wheels, spokes, rims and hubs", heading="Wheels, spokes, rims and hubs"
    )
    assert embedder.tokens.count(long_heading.text) >= 10
    chunks = chunker.chunk(document(long_heading, Section(full)))
    assert chunks[0].text == long_heading.text and len(chunks) == 2
    # A line that is not its section's heading is text, chunked as before.
    intro = document(Section("Wheels", heading="Care"), Section("Truing takes patience."))
    assert [c.text for c in chunker.chunk(intro)] == ["Wheels", "Truing takes patience."]


def test_a_corpus_title_opens_its_passage(embedder: Embedder) -> None:
    chunker = make_chunker(
        chunk_tokens=256, chunk_overlap=32, max_seq_length=256, tokens=embedder.tokens
    )
    row = '{"_id": "SB_4", "title": "Super Bowl 50", "text": "The game was played in 2016."}'
    (doc,) = beir_documents(row, origin="corpus.jsonl")
    assert isinstance(doc, LoadedDocument)
    (chunk,) = chunker.chunk(doc)
    assert chunk.text == "Super Bowl 50\n\nThe game was played in 2016."
    assert chunk.char_start == 0 and chunk.section is None


def test_a_corpus_title_opens_a_long_passage_too(embedder: Embedder) -> None:
    # An abstract longer than a chunk: its title opens the first chunk and is no chunk of
    # its own (2,157 of 5,183 SciFact abstracts had one, a bare title among search hits).
    chunker = make_chunker(
        chunk_tokens=64, chunk_overlap=8, max_seq_length=256, tokens=embedder.tokens
    )
    body = " ".join(f"Cohort {i} was followed for vitamin D and fractures." for i in range(20))
    title = "Vitamin D supplementation and fracture risk in older adults"
    row = json.dumps({"_id": "A1", "title": title, "text": body})
    (doc,) = beir_documents(row, origin="corpus.jsonl")
    assert isinstance(doc, LoadedDocument)
    chunks = chunker.chunk(doc)
    assert len(chunks) > 3 and chunks[0].text.startswith(title + "\n\nCohort 0 ")
    assert all(c.text != title for c in chunks)
    assert all(c.token_count <= 64 for c in chunks)
    assert all(doc.text[c.char_start : c.char_end] == c.text for c in chunks)
