"""Does the retrieved evidence speak about what the question asks? Lexical checks made
before the model is asked, pure functions over text.

* Coverage: the share of the question's content words that occur in the retrieved passages
  (their titles and sections included). A question about another subject shares a few
  general words with the nearest passages, never most of them, while a question written
  from a passage shares most of its words with it (measured on SQuAD and SciFact, see the
  README), so low coverage refuses without paying for the LLM.
* Specific terms: names, acronyms and numbers of the question (``MI55``, ``Ganondorf``,
  ``1951``) that no passage mentions. A question can be on topic and still ask about
  something the documents never name; the answerer asks for stronger verification then.

Words match on their first five letters when longer than four, so "lubricate" finds
"lubrication"; a plural finds its singular ("yards" finds "39-yard": hyphenated words are
found by their parts too) and "Apollo's" finds "Apollo".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from rag.answering.words import STOP_WORDS, content_words

_WORD = re.compile(r"[^\W_]+(?:['\u2019-][^\W_]+)*", re.UNICODE)
_POSSESSIVE = re.compile(r"['\u2019]s$")
_PREFIX = 5


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


class Vocabulary:
    """The words of some passages, for fast "is this word (or a form of it) there" checks."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.words: set[str] = set()
        for text in texts:
            for word in _WORD.findall(text.lower()):
                # "V&A's" and "2013-14" are found by their parts too.
                for form in (word, *re.split(r"['\u2019-]", word)):
                    self.words.add(_singular(form))
        self.prefixes = {w[:_PREFIX] for w in self.words if len(w) > _PREFIX - 1}

    def has(self, word: str) -> bool:
        word = _singular(_POSSESSIVE.sub("", word.lower()))
        if word in self.words:
            return True
        if len(word) > _PREFIX - 1 and word[:_PREFIX] in self.prefixes:
            return True
        parts = [p for p in re.split(r"['\u2019-]", word) if p]
        return len(parts) > 1 and all(self.has(p) for p in parts)


def words_found(text: str, vocabulary: Vocabulary) -> float | None:
    """Share of the text's distinct content words found in the vocabulary; None for a text
    without content words."""
    words = list(dict.fromkeys(content_words(text)))
    if not words:
        return None
    return sum(vocabulary.has(w) for w in words) / len(words)


def question_coverage(question: str, vocabulary: Vocabulary) -> float:
    """Share of the question's content words found in the passages (1.0 for a question
    without content words: nothing to judge it by)."""
    found = words_found(question, vocabulary)
    return 1.0 if found is None else found


def specific_terms(question: str) -> list[str]:
    """Names, acronyms and numbers: capitalised words after the first, words with more than
    one capital, and anything with a digit."""
    terms = []
    for position, word in enumerate(_WORD.findall(question)):
        plain = _POSSESSIVE.sub("", word)
        if plain.lower() in STOP_WORDS or len(plain) < 2:
            continue
        capitals = sum(c.isupper() for c in plain)
        if any(c.isdigit() for c in plain) or capitals > 1 or (position > 0 and capitals):
            terms.append(plain)
    return list(dict.fromkeys(terms))


def missing_terms(question: str, vocabulary: Vocabulary) -> list[str]:
    """The question's specific terms that no passage mentions."""
    return [t for t in specific_terms(question) if not vocabulary.has(t)]


def passage_vocabulary(passages: Sequence[tuple[str, str | None, str]]) -> Vocabulary:
    """``(title, section, text)`` triples -> their vocabulary."""
    return Vocabulary(" ".join(p for p in passage if p) for passage in passages)
