"""Content words: what condensing and the grounding check compare, with one stop-word list;
and the one pattern of citation markers (``[2]``, ``[1, 3]``)."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*", re.UNICODE)
# Function words, plus the words answers use to talk about their sources: none of them tie a
# sentence to a passage or a follow-up to its question ("all" mostly as in "at all").
STOP_WORDS = frozenset(
    """a an the is are was were be been to of in on at by for and or with as it its this that all
    these those there their they them he she his her him i me my you we our your not no yes
    can could will would should may might do does did has have had from than then so such
    which who whom what when where why how many much about into also answer question source sources
    document documents according based provided""".split()
)


def content_words(text: str) -> list[str]:
    """Lower-cased words and numbers that carry meaning, in order (repeats kept)."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]


# A citation marker with the space before it; the group holds the numbers.
CITATION_MARKER = re.compile(r"\s?\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")


def without_citations(text: str) -> str:
    """The text with its citation markers replaced by a space (what SQuAD scores, what the
    fact check reads)."""
    return CITATION_MARKER.sub(" ", text)
