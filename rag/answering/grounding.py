"""Citations and the grounding check, enforced by code.

* ``[n]`` markers are parsed; markers pointing at no source are removed from the text.
* Each answer sentence is embedded and compared with the chunks it cites (or, if it cites
  none, with every source); its support is the best cosine similarity. Sentences under the
  threshold are flagged. The answer's support score is the mean over its sentences.
* Support mixes meaning and wording: the mean of the cosine similarity and the share of the
  sentence's content words (numbers included) found in the source. Small models paraphrase
  little and copy figures, so the wording half keeps "40 euros" tied to the passage that
  says "40 euros" rather than to one that merely talks about money.
* When the model cites nothing, each supported sentence is attributed to its best source and
  those citations are marked ``inferred``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rag.answering.evidence import Vocabulary, words_found
from rag.answering.prompting import ranked_indices
from rag.answering.words import CITATION_MARKER

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


@dataclass(frozen=True, slots=True)
class SentenceSupport:
    text: str
    cited: tuple[int, ...]
    support: float
    best_source: int | None
    supported: bool


@dataclass(frozen=True, slots=True)
class GroundingReport:
    text: str  # the answer with invalid markers removed
    cited_numbers: tuple[int, ...]  # valid numbers, in order of first use
    inferred: bool  # citations attributed by similarity, not written by the model
    sentences: tuple[SentenceSupport, ...]
    support_score: float

    @property
    def unsupported(self) -> list[str]:
        return [s.text for s in self.sentences if not s.supported]


def clean_citations(answer: str, n_sources: int) -> tuple[str, list[int]]:
    """Drop markers outside 1..n_sources; return the cleaned text and valid numbers used."""
    used: list[int] = []

    def keep(match: re.Match[str]) -> str:
        numbers = [int(x) for x in re.split(r"\s*,\s*", match.group(1))]
        valid = [n for n in numbers if 1 <= n <= n_sources]
        for n in valid:
            if n not in used:
                used.append(n)
        if not valid:
            return ""
        prefix = " " if match.group(0).startswith(" ") else ""
        return prefix + "".join(f"[{n}]" for n in valid)

    return CITATION_MARKER.sub(keep, answer).strip(), used


# A short bracketed mark that is not a citation: "[c]", "[update]", "[note 2]", "[citation
# needed]" are footnote marks of Wikipedia text, which models copy along with the phrase.
# In the source such a mark is glued to the text before it ("shield.[c]"); an editor's
# insertion in a quotation ("the king [and] his court") follows a space and is content.
_BRACKETED = re.compile(r"(\s?)\[([^\[\]\n]{1,24})\]")


def without_source_markup(answer: str, source_texts: Sequence[str]) -> str:
    """The answer without the bracketed marks it copied from the sources' own markup: they
    are neither a citation nor content ("sword [c]" answers "sword"). A mark no source holds
    is the model's own and stays, as do citation markers, insertions in quotations, code
    (``counts[key]``: glued to a name) and Markdown links (``[the guide](...)``)."""

    def drop_copied(match: re.Match[str]) -> str:
        mark = f"[{match.group(2)}]"
        opening = match.start() + len(match.group(1))
        before = answer[opening - 1] if opening else ""
        after = answer[match.end() : match.end() + 1]
        if (
            CITATION_MARKER.fullmatch(mark)
            or before.isalpha()
            or before in {"_", ")"}
            or after == "("
            or not any(re.search(rf"\S{re.escape(mark)}", t) for t in source_texts)
        ):
            return match.group(0)
        # "in 2007 [a] by" keeps a space between its words, a mark opening a line its break.
        space = match.group(1)
        return space if space == "\n" or (space and after.isalnum()) else ""

    return _BRACKETED.sub(drop_copied, answer).strip()


def split_sentences(text: str) -> list[str]:
    parts: list[str] = []
    for block in text.splitlines():
        pieces = [p.strip() for p in _SENTENCE_END.split(block) if p.strip()]
        for piece in pieces:
            # "1. Find the puncture" must stay one sentence, not "1." + "Find ...".
            if parts and re.fullmatch(r"\(?\d{1,3}[.)]", parts[-1]) and parts[-1] in block:
                parts[-1] = f"{parts[-1]} {piece}"
            else:
                parts.append(piece)
    return parts


def sentence_citations(sentence: str, n_sources: int) -> tuple[int, ...]:
    found: list[int] = []
    for match in CITATION_MARKER.finditer(sentence):
        for n in (int(x) for x in re.split(r"\s*,\s*", match.group(1))):
            if 1 <= n <= n_sources and n not in found:
                found.append(n)
    return tuple(found)


def word_overlap(sentence: str, source: Vocabulary) -> float:
    """Share of the sentence's content words that occur (in some form) in the source."""
    return words_found(sentence, source) or 0.0


def _holding(overlaps: npt.NDArray[np.float64]) -> list[int]:
    """Numbers of the sources holding the sentence's words as fully as any, best-ranked
    first (the prompt shows the best-ranked last)."""
    best_overlap = float(overlaps.max())
    return [j + 1 for j in ranked_indices(len(overlaps)) if overlaps[j] >= best_overlap - 1e-9]


def _better_citation(
    cited: tuple[int, ...],
    overlaps: npt.NDArray[np.float64],
    question_overlaps: npt.NDArray[np.float64] | None,
) -> tuple[int, ...]:
    """The model's citation, unless another source holds more of the sentence's words: small
    models often cite a neighbouring passage of the right article. When several sources hold
    the answer's words equally (a short span such as a year or a name often recurs in the
    neighbouring passages), the one that also holds most of the question's words is the
    passage that states the answer to *this* question."""
    # Best-ranked first: max() keeps the first of equals, so a tie goes to the better-ranked.
    holding = _holding(overlaps)
    kept = [n for n in cited if n in holding]
    if question_overlaps is None:
        return cited if kept else (holding[0],)
    best = max(holding, key=lambda n: question_overlaps[n - 1])
    if best in cited or (kept and question_overlaps[kept[0] - 1] >= question_overlaps[best - 1]):
        return cited
    return (best,)


def _attributed_source(
    cited: tuple[int, ...],
    similarities: npt.NDArray[np.float64],
    overlaps: npt.NDArray[np.float64] | None,
    question_overlaps: npt.NDArray[np.float64] | None,
    threshold: float,
) -> int:
    """Index of the source a sentence is attributed to: the closest in meaning of those it
    cites, or of all without a marker. When that closest source is one of several holding
    the sentence's words equally, the tie is settled as for a marker, by the question's
    words, if the source so chosen supports the sentence too: a short answer such as
    "sword" says too little for its embedding to pick between two passages that both hold
    it."""
    if cited:
        return max((n - 1 for n in cited), key=lambda j: float(similarities[j]))
    closest = int(np.argmax(similarities))
    if overlaps is None or overlaps.max() <= 0:
        return closest
    holding = _holding(overlaps)
    if len(holding) < 2 or closest + 1 not in holding:
        return closest
    chosen = _better_citation((), overlaps, question_overlaps)[0] - 1
    return chosen if similarities[chosen] >= threshold else closest


def _citing(sentence: str, number: int) -> str:
    """The sentence with its markers replaced by ``[number]``, before its closing stop."""
    body = CITATION_MARKER.sub("", sentence).rstrip()
    stop = re.search(r"[.!?]*$", body)
    end = stop.start() if stop else len(body)
    return f"{body[:end].rstrip()} [{number}]{body[end:]}"


def check_grounding(
    answer: str,
    *,
    source_vectors: npt.NDArray[np.float32],
    source_texts: Sequence[str] | None = None,
    encode: Callable[[Sequence[str]], npt.NDArray[np.float32]],
    threshold: float,
    question: str | None = None,
) -> GroundingReport:
    """``source_vectors[i]`` (and ``source_texts[i]``) belong to source number i + 1, in the
    order the prompt shows them (the best-ranked last); the question, when given, decides
    between sources that hold the answer equally, then the rank."""
    n_sources = len(source_vectors)
    text, used = clean_citations(answer, n_sources)
    sentences = [s for s in split_sentences(text) if re.search(r"\w", CITATION_MARKER.sub("", s))]
    if not sentences or n_sources == 0:
        return GroundingReport(text, tuple(used), False, (), 0.0)
    plain = [CITATION_MARKER.sub("", s).strip() for s in sentences]
    question_overlaps: npt.NDArray[np.float64] | None = None
    vectors = encode(plain)
    similarities = vectors @ source_vectors.T  # (sentences, sources)
    if source_texts is not None:
        vocabularies = [Vocabulary([t]) for t in source_texts]
        overlap = np.array([[word_overlap(p, v) for v in vocabularies] for p in plain])
        similarities = (similarities + overlap) / 2
        if question is not None:
            question_overlaps = np.array([word_overlap(question, v) for v in vocabularies])
    supports: list[SentenceSupport] = []
    for i, sentence in enumerate(sentences):
        cited = sentence_citations(sentence, n_sources)
        if cited and source_texts is not None:
            better = _better_citation(cited, overlap[i], question_overlaps)
            if better != cited:
                text = text.replace(sentence, _citing(sentence, better[0]), 1)
                cited = better
        overlaps = None if source_texts is None else overlap[i]
        best = _attributed_source(cited, similarities[i], overlaps, question_overlaps, threshold)
        score = float(similarities[i, best])
        supports.append(
            SentenceSupport(
                text=plain[i],
                cited=cited,
                support=round(score, 4),
                best_source=best + 1,
                supported=score >= threshold,
            )
        )
    used = clean_citations(text, n_sources)[1]
    inferred = False
    if not used:
        inferred = True
        for support in supports:
            if support.supported and support.best_source not in used:
                used.append(support.best_source or 0)
    score = float(np.mean([s.support for s in supports]))
    return GroundingReport(
        text, tuple(n for n in used if n), inferred, tuple(supports), round(score, 4)
    )


def cited_to(report: GroundingReport, number: int) -> GroundingReport:
    """The report with its key (first) sentence citing source ``number`` instead: the passage
    a second look by the model found to hold the answer when the one cited did not. Other
    sentences keep their citations."""
    if not report.sentences:
        return report
    key, *rest = report.sentences
    text = report.text
    if not report.inferred:
        marked = next(
            s for s in split_sentences(text) if re.search(r"\w", CITATION_MARKER.sub("", s))
        )
        text = text.replace(marked, _citing(marked, number), 1)
        numbers = clean_citations(text, max(number, *report.cited_numbers, 1))[1]
    else:
        # Inferred citations live beside the text, one per supported sentence's best source.
        others = [s.best_source for s in rest if s.supported and s.best_source]
        numbers = list(dict.fromkeys([number, *others]))
    moved = SentenceSupport(key.text, (number,), key.support, number, key.supported)
    return GroundingReport(
        text, tuple(numbers), report.inferred, (moved, *rest), report.support_score
    )
