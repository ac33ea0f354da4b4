"""Token-aware, section-aware chunking.

Each section (a PDF page, a Markdown/HTML/DOCX heading's body) is split on its own with
LangChain's recursive splitter, measuring length with the embedding model's tokenizer, so a
chunk never straddles two sections' text and always knows its page and heading. A heading
with no body of its own is no chunk: it opens the first chunk of the section after it.
Offsets point into ``LoadedDocument.text``.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ingest.loaders import SECTION_SEPARATOR, LoadedDocument, Section
from rag.storage.records import ChunkSpec
from rag.tokens import TokenCounter

# Bump when the chunking algorithm changes, so stored documents are re-chunked.
CHUNKER_VERSION = "3"


@dataclass(frozen=True, slots=True)
class ChunkerConfig:
    chunk_tokens: int
    chunk_overlap: int
    max_tokens: int  # hard limit: the embedder's max sequence length minus special tokens

    @property
    def effective_tokens(self) -> int:
        return min(self.chunk_tokens, self.max_tokens)

    @property
    def effective_overlap(self) -> int:
        return min(self.chunk_overlap, self.effective_tokens // 2)


def chunk_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pipeline_signature(config: ChunkerConfig, embedding_model: str) -> str:
    """Changes whenever re-chunking or re-embedding an unchanged file would give new chunks."""
    key = (
        f"{CHUNKER_VERSION}|{config.effective_tokens}|{config.effective_overlap}|{embedding_model}"
    )
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class Chunker:
    """Splits documents into ``ChunkSpec``s using a tokenizer's token count as length."""

    def __init__(self, config: ChunkerConfig, tokens: TokenCounter) -> None:
        self.config = config
        self.tokens = tokens
        # The recursive splitter measures every piece more than once (while splitting, again
        # while merging, and its separators each time): on SciFact 48,451 counts for 19,584
        # distinct texts. Counting is the chunker's main cost and competes with the embedder
        # for the same cores, so each distinct text is counted once per document (the cache
        # is emptied after each, so it never holds more than one document's pieces).
        self._count = functools.lru_cache(maxsize=None)(tokens.count)
        self._splitter = self._splitter_for(config.effective_tokens)

    def _splitter_for(self, size: int) -> RecursiveCharacterTextSplitter:
        return RecursiveCharacterTextSplitter(
            chunk_size=size,
            chunk_overlap=min(self.config.effective_overlap, size // 2),
            length_function=self.count_tokens,
            separators=["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""],
            keep_separator="end",
            add_start_index=True,
            strip_whitespace=True,
        )

    def count_tokens(self, text: str) -> int:
        return self._count(text)

    def _hard_split(self, text: str, size: int) -> list[tuple[int, str]]:
        """Cut by token offsets; a last resort for runs the splitter could not break."""
        offsets = self.tokens.offsets(text)
        pieces: list[tuple[int, str]] = []
        for start in range(0, len(offsets), size):
            window = offsets[start : start + size]
            begin, end = window[0][0], window[-1][1]
            pieces.append((begin, text[begin:end]))
        return pieces

    def split_section(self, text: str, size: int | None = None) -> list[tuple[int, str]]:
        """(offset within the section, chunk text) pairs, each of at most ``size`` tokens
        (the configured chunk size by default)."""
        size = size or self.config.effective_tokens
        if self.count_tokens(text) <= size:
            stripped = text.strip()
            return [(text.find(stripped), stripped)] if stripped else []
        splitter = (
            self._splitter if size == self.config.effective_tokens else self._splitter_for(size)
        )
        pieces: list[tuple[int, str]] = []
        for piece in splitter.create_documents([text]):
            offset = int(piece.metadata.get("start_index", -1))
            body = piece.page_content
            if offset < 0:
                offset = max(0, text.find(body))
            if self.count_tokens(body) > size:
                pieces.extend((offset + o, t) for o, t in self._hard_split(body, size))
            else:
                pieces.append((offset, body))
        return pieces

    def _pieces_after_headings(
        self, section: Section, headings: str | None
    ) -> list[tuple[int, str]]:
        """The section's pieces. When ``headings`` (a run with no body of its own, with its
        separators) would not fit in front of the first one, the section is cut smaller by
        their size, so that they still open its first chunk rather than being a chunk of
        their own (a title alone matches every question on its subject and shows a
        searcher no content)."""
        pieces = self.split_section(section.text)
        if headings is None or not pieces:
            return pieces
        size = self.config.effective_tokens
        heading_tokens = self.count_tokens(headings)
        if heading_tokens + self.count_tokens(pieces[0][1]) <= size:
            return pieces
        room = size - heading_tokens - 1  # a token spare: counts of joined text may differ
        # Headings that take half a chunk are text enough to stand alone.
        return self.split_section(section.text, room) if room >= size // 2 else pieces

    def chunk(self, document: LoadedDocument) -> list[ChunkSpec]:
        try:
            return self._chunk(document)
        finally:
            self._count.cache_clear()

    def _chunk(self, document: LoadedDocument) -> list[ChunkSpec]:
        specs: list[ChunkSpec] = []
        whole = document.text
        sections = document.sections
        section_start = 0
        # Where a run of headings with no body of their own starts: they open the next
        # section's first chunk instead of being chunks (a title alone matches every question
        # on its subject equally, and says nothing about which passage answers it).
        heading_run: tuple[int, Section] | None = None
        for index, section in enumerate(sections):
            following = sections[index + 1] if index + 1 < len(sections) else None
            if (
                following is not None
                and following.page == section.page
                and _is_heading_only(section)
            ):
                heading_run = heading_run or (section_start, section)
                section_start += len(section.text) + len(SECTION_SEPARATOR)
                continue
            headings = whole[heading_run[0] : section_start] if heading_run else None
            for offset, text in self._pieces_after_headings(section, headings):
                if not text.strip():
                    continue
                start = section_start + offset
                if heading_run is not None:
                    run_start, first_heading = heading_run
                    opened = whole[run_start : start + len(text)]
                    if self.count_tokens(opened) <= self.config.effective_tokens:
                        start, text = run_start, opened
                    else:  # headings of half a chunk or more stay a chunk of their own
                        specs.append(
                            self._spec(len(specs), whole, run_start, section_start, first_heading)
                        )
                    heading_run = None
                specs.append(self._spec(len(specs), whole, start, start + len(text), section))
            section_start += len(section.text) + len(SECTION_SEPARATOR)
        return specs

    def _spec(self, ordinal: int, whole: str, start: int, end: int, section: Section) -> ChunkSpec:
        text = whole[start:end].strip()
        start = whole.index(text, start)
        return ChunkSpec(
            ordinal=ordinal,
            text=text,
            token_count=self.count_tokens(text),
            char_start=start,
            char_end=start + len(text),
            page=section.page,
            section=section.heading,
            content_hash=chunk_hash(text),
        )


def _is_heading_only(section: Section) -> bool:
    """A section that holds nothing but its own heading line ("# Fixing a flat tyre")."""
    if section.heading is None:
        return False
    line = section.text.strip()
    return "\n" not in line and line.lstrip("#").strip() == section.heading.rsplit(" > ", 1)[-1]


def make_chunker(
    *, chunk_tokens: int, chunk_overlap: int, max_seq_length: int, tokens: TokenCounter
) -> Chunker:
    # Two special tokens ([CLS], [SEP]) are added by the encoder around every chunk.
    config = ChunkerConfig(chunk_tokens, chunk_overlap, max_tokens=max_seq_length - 2)
    return Chunker(config, tokens)
