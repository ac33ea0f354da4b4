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
found by their parts too) and "Apollo's" finds "Apollo". An acronym finds its spelled-out
name or its dotted form ("NYC" finds "New York City", "US" finds "U.S."): SQuAD questions
abbreviate names their paragraphs spell out, and a term counted missing asks the
verification for a surer yes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from rag.answering.words import STOP_WORDS, content_words

_WORD = re.compile(r"[^\W_]+(?:['\u2019-][^\W_]+)*", re.UNICODE)
_POSSESSIVE = re.compile(r"['\u2019]s$")
_PREFIX = 5
_WORD_OR_MARK = re.compile(rf"{_WORD.pattern}|[^\w\s]", re.UNICODE)
_DOTTED = re.compile(r"(?<![^\W_])(?:[^\W\d_]\.){2,}")
# Small words a name may hold between its capitalised words ("Bank of England").
_NAME_JOINERS = frozenset({"of", "the", "for", "de", "la"})
_LONGEST_ACRONYM = 6


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _name_initials(text: str) -> set[str]:
    """The acronyms a text's names make: the initials of every run of two or more
    capitalised words ("New York City" -> "nyc", "ny", "yc"), with and without the small
    words inside them ("United States of America" -> "usa", "usoa"), and dotted
    abbreviations spelled without their dots ("U.S." -> "us")."""
    initials = {m.group(0).replace(".", "").lower() for m in _DOTTED.finditer(text)}
    run: list[str] = []
    # Punctuation ends a name: "... New York City. The United States ..." holds two.
    for word in [*_WORD_OR_MARK.findall(text), "."]:
        if word[0].isupper() or (run and word in _NAME_JOINERS):
            run.append(word)
            continue
        for start in range(len(run)):
            if run[start] in _NAME_JOINERS:
                continue
            # Up to twice the longest acronym in words: the small words inside may not count.
            for end in range(start + 2, min(start + 2 * _LONGEST_ACRONYM, len(run)) + 1):
                name = run[start:end]
                if name[-1] in _NAME_JOINERS:
                    continue
                initials.add("".join(w[0] for w in name).lower())
                initials.add("".join(w[0] for w in name if w not in _NAME_JOINERS).lower())
        run = []
    return {i for i in initials if 2 <= len(i) <= _LONGEST_ACRONYM}


class Vocabulary:
    """The words of some passages, for fast "is this word (or a form of it) there" checks."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.words: set[str] = set()
        self.acronyms: set[str] = set()
        for text in texts:
            self.acronyms |= _name_initials(text)
            for word in _WORD.findall(text.lower()):
                # "V&A's" and "2013-14" are found by their parts too.
                for form in (word, *re.split(r"['\u2019-]", word)):
                    self.words.add(_singular(form))
        self.prefixes = {w[:_PREFIX] for w in self.words if len(w) > _PREFIX - 1}

    def has(self, word: str) -> bool:
        word = _singular(_POSSESSIVE.sub("", word.lower()))
        if word in self.words or word in self.acronyms:
            return True
        if len(word) > _PREFIX - 1 and word[:_PREFIX] in self.prefixes:
            return True
        parts = [p for p in re.split(r"['\u2019-]", word) if p]
        return len(parts) > 1 and all(self.has(p) for p in parts)


def _share_found(words: Sequence[str], vocabulary: Vocabulary) -> float | None:
    """Share of the distinct ``words`` found in the vocabulary; None when there are none."""
    distinct = list(dict.fromkeys(words))
    if not distinct:
        return None
    return sum(vocabulary.has(w) for w in distinct) / len(distinct)


def words_found(text: str, vocabulary: Vocabulary) -> float | None:
    """Share of the text's distinct content words found in the vocabulary; None for a text
    without content words."""
    return _share_found(content_words(text), vocabulary)


# A request ("Explain step by step, in great detail, everything about ...") says how to
# answer in words no passage needs to hold. Only a question opening with one of these verbs
# (or "Can you ..." one) loses them (no SQuAD question of the report or calibration sets
# does), so "How did he describe himself?" keeps "describe". The opening is read from the
# question itself: its first content word would be "describe" there.
_REQUEST_VERBS = ("explain", "describe", "tell", "list", "give", "show", "summarise", "summarize")
_REQUEST_OPENING = re.compile(
    r"^\W*(?:(?:can|could|would|will)\s+you\s+)?(?:please\s+)?"
    rf"(?:{'|'.join(_REQUEST_VERBS)}|please)\b",
    re.IGNORECASE,
)
_REQUEST_WORDS = frozenset(
    (*_REQUEST_VERBS, "please", "step", "steps", "detail", "details", "detailed", "everything",
     "briefly")
)  # fmt: skip


def _question_words(question: str) -> list[str]:
    """The question's content words, a request's own words left out."""
    words = content_words(question)
    if _REQUEST_OPENING.match(question):
        words = [w for w in words if w not in _REQUEST_WORDS]
    return words


def question_coverage(question: str, vocabulary: Vocabulary) -> float:
    """Share of the question's content words found in the passages (1.0 for a question
    without content words: nothing to judge it by); a request's own words left out."""
    found = _share_found(_question_words(question), vocabulary)
    return 1.0 if found is None else found


def missing_words(question: str, vocabulary: Vocabulary) -> list[str]:
    """The question's content words that no passage holds (a request's own words left out).
    An answer with no words of its own ("Yes [2]") asserts the question itself, so for it
    these count as missing terms."""
    return [w for w in dict.fromkeys(_question_words(question)) if not vocabulary.has(w)]


def _specific(word: str, *, first: bool) -> bool:
    """A name, acronym or number: a digit, more than one capital, or a capital anywhere but
    at the start of a sentence (``first``), where grammar puts one."""
    if word.lower() in STOP_WORDS or len(word) < 2:
        return False
    capitals = sum(c.isupper() for c in word)
    return any(c.isdigit() for c in word) or capitals > 1 or (not first and capitals > 0)


def specific_terms(question: str) -> list[str]:
    """Names, acronyms and numbers: capitalised words after the first, words with more than
    one capital, and anything with a digit."""
    words = [_POSSESSIVE.sub("", w) for w in _WORD.findall(question)]
    terms = [w for i, w in enumerate(words) if _specific(w, first=i == 0)]
    return list(dict.fromkeys(terms))


def _found(term: str, vocabulary: Vocabulary) -> bool:
    """A hyphenated term is found when its specific parts are: "Halloween-themed" by
    "Halloween", "pre-2007" by "2007" (the general part may be worded otherwise)."""
    if vocabulary.has(term):
        return True
    parts = [p for p in term.split("-") if _specific(p, first=False)]
    return bool(parts) and all(vocabulary.has(p) for p in parts)


def missing_terms(question: str, vocabulary: Vocabulary) -> list[str]:
    """The question's specific terms that no passage mentions."""
    return [t for t in specific_terms(question) if not _found(t, vocabulary)]


def passage_vocabulary(passages: Sequence[tuple[str, str | None, str]]) -> Vocabulary:
    """``(title, section, text)`` triples -> their vocabulary."""
    return Vocabulary(" ".join(p for p in passage if p) for passage in passages)
