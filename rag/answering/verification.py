"""Checks on a generated answer, enforced by code: loops, empty answers, the model declining,
facts (numbers, dates, names) that no source states, and a second look by the model at the
cited passage. Pure functions over text; the answerer turns their verdicts into refusals
with a reason."""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.answering.llm import ChatMessage
from rag.answering.prompting import neutralize_control_tokens, ranked_indices, shared_start
from rag.answering.words import (
    STOP_WORDS,
    content_words,
    without_citations,
)


class RefusalReason(enum.StrEnum):
    NO_RELEVANT_SOURCES = "no_relevant_sources"  # retrieval found nothing close enough
    MODEL_DECLINED = "model_declined"  # the model said the documents do not say
    UNSUPPORTED = "unsupported"  # the key claim is not in the sources, or fails verification
    EMPTY = "empty"  # nothing but boilerplate (or a loop) came out


# --- degeneration -------------------------------------------------------------------------

_WORDS = re.compile(r"\S+")


# The longest repeated unit looked for, in words, and how many back-to-back copies of a unit
# make a loop: a single word 8 times, a short phrase 5, anything longer 3.
_LONGEST_PERIOD = 40


def _copies_needed(period: int) -> int:
    return 8 if period == 1 else 5 if period <= 3 else 3


def _loop(text: str) -> tuple[list[re.Match[str]], int, int] | None:
    """The text's words, where its loop begins (a word index) and the loop's period, when
    the text ends with enough back-to-back copies of one unit of words; None otherwise.

    Only consecutive copies count: a long answer uses "the" or "one of the" many times
    without looping (counting every occurrence cut such answers at their second "the")."""
    spans = list(_WORDS.finditer(text))
    words = [m.group(0).lower() for m in spans]
    for period in range(1, min(_LONGEST_PERIOD, len(words) // 2) + 1):
        start = len(words) - period
        while start > 0 and words[start - 1] == words[start - 1 + period]:
            start -= 1
        if len(words) - start >= period * _copies_needed(period):
            return spans, start, period
    return None


def strip_loop(text: str) -> tuple[str, bool]:
    """The text cut before the second copy of the unit it repeats at its end, and whether it
    looped. Catches long repeated sentences and short phrases repeated many times."""
    loop = _loop(text)
    if loop is None:
        return text, False
    spans, start, period = loop
    return text[: spans[start + period].start()].rstrip(), True


def only_loop(text: str) -> bool:
    """The text repeats one unit from its first word: the model never said anything else
    (the same few words over and over), so what a cut keeps is at best a fragment, not an
    answer. A loop after a first sentence leaves that sentence standing."""
    loop = _loop(text)
    return loop is not None and loop[1] == 0


# --- content ------------------------------------------------------------------------------

_BOILERPLATE = frozenset(
    """answer answers final short response reply based given context sources source
    passage passages documents document text here following is are the""".split()
)


_YES_NO = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)
_HEADING_LINE = re.compile(r"^\s*#{1,6}\s")


def has_content(answer: str) -> bool:
    """False for "", "The answer is:", "[1]" and the like, and for Markdown headings alone
    (the 0.5B model answered "How do I fix a flat tyre?" with "# Fixing a flat tyre": the
    section's title copied, not what it says); "No." answers a yes/no question."""
    plain = without_citations(answer)
    lines = [line for line in plain.splitlines() if line.strip()]
    if lines and all(_HEADING_LINE.match(line) for line in lines):
        return False
    if _YES_NO.match(plain):
        return True
    return any(w not in _BOILERPLATE for w in content_words(plain))


def says_nothing_of_its_own(answer: str) -> bool:
    """True for "Yes [2]", "No.", "Yes, it does.": an answer without content words, which
    asserts (or denies) the question itself."""
    return not content_words(without_citations(answer))


_DECLINE = re.compile(
    r"\b(not (?:in|found in|mentioned in|stated in|provided in|given in|included in) the "
    r"(?:documents?|sources?|context|passages?|text)"
    r"|(?:documents?|sources?|context|passages?|text) (?:does not|do not|doesn't|don't) "
    r"(?:contain|mention|say|state|provide|include|specify|give|have)"
    r"|(?:no|not enough) information (?:about|on|in|regarding|to)"
    r"|(?:cannot|can't|could not|couldn't|unable to) (?:find|answer|determine|tell)"
    r"|(?:is|are) not (?:mentioned|specified|stated|provided|given)"
    r"|i (?:do not|don't) know)\b",
    re.IGNORECASE,
)


def declines(answer: str) -> bool:
    """The model says the sources lack the answer (in any of the usual phrasings)."""
    return bool(_DECLINE.search(answer))


# --- facts --------------------------------------------------------------------------------

# A number standing on its own: not the digits inside a model name like "Mi-26T" or "A380"
# (those are checked as names when they are), which no source spells as a bare number.
_NUMBER = re.compile(r"(?<!\w)\d+(?:[.,:]\d+)*(?:st|nd|rd|th|s)?(?!\w)")
_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen".split()
_UNITS += "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
_TENS = {
    30: "thirty",
    40: "forty",
    50: "fifty",
    60: "sixty",
    70: "seventy",
    80: "eighty",
    90: "ninety",
}
_ORDINALS = "first second third fourth fifth sixth seventh eighth ninth tenth".split()
# How a source may spell a small number that the answer wrote in digits ("5" / "five").
NUMBER_WORDS: dict[str, str] = {
    **{str(n): word for n, word in enumerate(_UNITS)},
    **{str(n): word for n, word in _TENS.items()},
    "100": "hundred",
    **{
        f"{n}{suffix}": word
        for n, (suffix, word) in enumerate(
            zip(["st", "nd", "rd"] + ["th"] * 7, _ORDINALS, strict=True), start=1
        )
    },
}
_WORD = re.compile("[^\\W\\d_][\\w'\u2019-]*")


def _normalized(text: str) -> str:
    return " ".join(without_citations(text).replace(",", "").lower().split())


def fact_tokens(sentence: str) -> list[str]:
    """Numbers (times, prices, years, quantities) and capitalised names inside a sentence:
    the parts of a claim a small model most often gets wrong."""
    plain = without_citations(sentence)
    numbers = [n.replace(",", "") for n in _NUMBER.findall(plain)]
    # Capitalised words, except the sentence's first (capitalised by grammar, not by name).
    names = [
        w
        for w in _WORD.findall(plain)[1:]
        if w[0].isupper() and len(w) > 2 and w.lower() not in STOP_WORDS | _BOILERPLATE
    ]
    return numbers + names


def missing_facts(sentence: str, sources: Sequence[str]) -> list[str]:
    """The fact tokens of ``sentence`` that none of ``sources`` contains."""
    haystacks = [_normalized(s) for s in sources]
    missing = []
    for fact in fact_tokens(sentence):
        spellings = {fact.lower(), NUMBER_WORDS.get(fact, fact.lower())}
        alternatives = "|".join(re.escape(spelling) for spelling in spellings)
        pattern = re.compile(rf"(?<![\w.])(?:{alternatives})(?![\w])")
        if not any(pattern.search(h) for h in haystacks):
            missing.append(fact)
    return missing


# --- a second look by the model ----------------------------------------------------------

VERIFY_INSTRUCTION = "You check whether a source answers a question. Reply with Yes or No only."
VERIFY_REQUEST = "Does the source contain the answer to exactly this question? Reply Yes or No."

# Worked examples shown before the real source (made up here; their facts are in no
# knowledge base). Each source is asked one question it answers and one written to look
# answerable from it that it does not: a fact it never states about something it names,
# the opposite relation. Measured with bench/verifier_prompts.py on SQuAD 2.0 questions
# asked of their own paragraph (two samples of 60 answerable + 60 on-topic unanswerable),
# they raised the AUC of P(yes) between the kinds from 0.807 to 0.831 (0.818 -> 0.868 on
# one sample, 0.799 -> 0.797 on the other); at 10 % false refusals they refuse 0.51 of the
# unanswerable questions instead of 0.42. They are the same for every verification, so the
# model evaluates them once (``verification_prefix``).
VERIFY_EXAMPLES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "The Millbrook lighthouse was built in 1872 by the harbour board. Its lamp was "
        "electrified in 1931, and the keeper's cottage became a museum in 1990.",
        (
            ("When was the lamp of the Millbrook lighthouse electrified?", "Yes"),
            ("When was the keeper's cottage built?", "No"),
        ),
    ),
    (
        "Orla Fenwick founded the Kestrel Choir in 2004. The choir did not travel abroad "
        "until 2011, when it sang in Bergen and Oslo.",
        (
            ("Who did not found the Kestrel Choir?", "No"),
            ("In which cities did the Kestrel Choir sing in 2011?", "Yes"),
        ),
    ),
)


def verification_request(question: str, source: str) -> str:
    """The user turn that asks about one source (before control tokens are neutralized)."""
    return f"Source:\n{source.strip()}\n\nQuestion: {question.strip()}\n\n{VERIFY_REQUEST}"


def _verification_opening() -> list[ChatMessage]:
    messages = [ChatMessage("system", VERIFY_INSTRUCTION)]
    for source, asked in VERIFY_EXAMPLES:
        for question, reply in asked:
            messages.append(ChatMessage("user", verification_request(question, source)))
            messages.append(ChatMessage("assistant", reply))
    return messages


def verification_messages(question: str, source: str) -> list[ChatMessage]:
    """Ask whether ``source`` answers exactly this question, after the worked examples. A
    question written to look answerable (another year, the opposite relation, someone the
    text does not name) gets a plausible span from the passage; read against the passage,
    it is not answered.

    The answer itself is left out: measured on the SQuAD 2.0 slice (103 answerable, 92
    on-topic unanswerable questions, each with the passage its answer cited), P(yes) of this
    question separates the two kinds better (AUC 0.77) than "does the source state this
    proposed answer" (0.67) or the same asked of the answer's sentence alone (0.69)."""
    request = neutralize_control_tokens(verification_request(question, source))
    return [*_verification_opening(), ChatMessage("user", request)]


def verification_prefix(render: Callable[[Sequence[ChatMessage]], str]) -> str:
    """The rendered start every verification prompt shares (instruction and examples)."""
    return shared_start(render, _verification_opening())


# The retrieval's best cosine similarity for a typical answerable question (the median was
# 0.62 on both SQuAD sets): there the relevance term moves P(yes) by nothing.
RELEVANCE_PIVOT = 0.6
_EDGE = 1e-6


def _moved(probability: float, log_odds: float) -> float:
    """``probability`` moved by ``log_odds`` on the log-odds scale."""
    p = min(max(probability, _EDGE), 1 - _EDGE)
    return 1 / (1 + math.exp(-(math.log(p / (1 - p)) + log_odds)))


def with_relevance(yes: float, relevance: float | None, weight: float) -> float:
    """P(yes) moved, in log-odds, by how close the nearest retrieved passage came to the
    question: ``weight`` per unit of cosine above or below ``RELEVANCE_PIVOT``.

    The two see different things. The verification pass reads one passage and misses a
    question that passage only seems to answer; retrieval measures how near anything in
    the documents is to the question, and an on-topic question that the documents do not
    answer is on average further from all of them (SQuAD 2.0 slice: best cosine median
    0.48 against 0.62 for answerable questions). Unchanged without a score (lexical mode).
    """
    if relevance is None or weight == 0:
        return yes
    return _moved(yes, weight * (relevance - RELEVANCE_PIVOT))


def yes_needed(floor: float, relevance: float | None, weight: float) -> float:
    """The P(yes) that ``with_relevance`` lifts (or lowers) to exactly ``floor``."""
    if relevance is None or weight == 0:
        return floor
    if not 0 < floor < 1:
        return floor  # 0 refuses nothing, 1 everything; above 1 asks every source
    return _moved(floor, -weight * (relevance - RELEVANCE_PIVOT))


@dataclass(frozen=True, slots=True)
class Verdict:
    yes: float  # the highest P(yes) asked
    source: int  # the index of the source it came from
    passes: int  # how many sources were asked


def verify_sources(
    yes_probability: Callable[[str], float],
    sources: Sequence[str],
    *,
    first: int,
    floor: float,
    others: bool = True,
) -> Verdict:
    """Ask of the cited source (index ``first``) and, with ``others``, then of the other
    packed sources from the last to the first (the prompt shows the best-ranked last), until
    one reaches ``floor``. With ``floor`` above 1 every source is asked (calibration).

    Asking the others rescues a right answer that cites a neighbouring passage, and lets
    through unanswerable questions that some neighbouring passage seems to answer. With the
    zero-shot prompt (110 SQuAD 2.0 calibration questions) the best P(yes) over the packed
    sources separated the kinds slightly better than the cited source's (AUC 0.79 vs 0.77);
    with the worked examples the cited source's alone separates them better (0.83 vs 0.79
    on 120 others), so the answerer asks only the cited one unless configured otherwise."""
    order = [first, *(i for i in ranked_indices(len(sources)) if i != first and others)]
    best, best_source, passes = -1.0, first, 0
    for index in order:
        yes = yes_probability(sources[index])
        passes += 1
        if yes > best:
            best, best_source = yes, index
        if best >= floor:
            break
    return Verdict(best, best_source, passes)
