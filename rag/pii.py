"""Personal data in documents and questions, found with Presidio (analyzer and anonymizer),
fully offline.

Presidio's pattern recognizers (with their checksums and context words) find e-mail
addresses, phone numbers, payment cards, IBANs and IP addresses. Person names need a
named-entity model; no spaCy model ships offline here, so the NLP engine is a blank English
spaCy pipeline (tokenizer only, made once in the cache dir) and names are found only when
``RAG_INGEST__PII_SPACY_MODEL`` points at an installed spaCy model with NER.

Modes, chosen per collection at ingestion: ``off``; ``detect`` (the entity types and counts
go into the document's metadata, per chunk too); ``redact`` (each entity is replaced by
``<TYPE>`` before chunking and embedding, so the stored text, vectors and answers never hold
it). Questions asked of a ``redact`` collection are redacted the same way in the answer log.
"""

from __future__ import annotations

import enum
import importlib.util
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import InvalidInputError

ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "PERSON")
# Below this Presidio score a match is ignored (a bare 7-digit number scores 0.4 as a phone).
MIN_SCORE = 0.4


class PiiMode(enum.StrEnum):
    OFF = "off"
    DETECT = "detect"
    REDACT = "redact"


@dataclass(frozen=True, slots=True)
class Finding:
    entity: str
    start: int
    end: int
    score: float


class PiiScanner:
    """Presidio's analyzer and anonymizer, built once (about 3 s) and shared."""

    def __init__(self, *, cache_dir: Path, spacy_model: str | None = None) -> None:
        for package in ("presidio_analyzer", "presidio_anonymizer", "spacy"):
            if importlib.util.find_spec(package) is None:
                raise InvalidInputError(
                    "PII handling needs Presidio: pip install 'rag-backend[pii]'"
                )
        import spacy
        import tldextract
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_anonymizer import AnonymizerEngine

        # Presidio's e-mail check asks tldextract for the public suffix list, which would
        # go to the network; its bundled snapshot answers instead.
        tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())
        model = spacy_model
        if model is None:
            blank = cache_dir / "spacy-blank-en"
            if not (blank / "config.cfg").exists():
                blank.parent.mkdir(parents=True, exist_ok=True)
                spacy.blank("en").to_disk(blank)
            model = str(blank)
        provider = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": model}],
            }
        )
        self.analyzer = AnalyzerEngine(
            nlp_engine=provider.create_engine(), supported_languages=["en"]
        )
        self.anonymizer = AnonymizerEngine()
        self._lock = threading.Lock()  # spaCy pipelines are not documented as thread-safe

    def _analyze(self, text: str) -> list[Any]:
        """Presidio's results above the score floor, overlaps resolved to the higher score."""
        if not text.strip():
            return []
        with self._lock:
            results = self.analyzer.analyze(text=text, language="en", entities=list(ENTITIES))
        kept: list[Any] = []
        for result in sorted(results, key=lambda r: (-r.score, r.start)):
            if result.score < MIN_SCORE:
                continue
            if any(result.start < k.end and k.start < result.end for k in kept):
                continue
            kept.append(result)
        return sorted(kept, key=lambda r: r.start)

    def find(self, text: str) -> list[Finding]:
        """The entities in ``text``, in text order."""
        return _findings(self._analyze(text))

    def redact(self, text: str) -> str:
        """``text`` with every entity replaced by ``<TYPE>`` (the anonymizer's default
        operator)."""
        return self.redact_and_find(text)[0]

    def redact_and_find(self, text: str) -> tuple[str, list[Finding]]:
        """The redacted text and what was replaced, from one analysis."""
        results = self._analyze(text)
        findings = _findings(results)
        if not results:
            return text, findings
        redacted = self.anonymizer.anonymize(text=text, analyzer_results=results).text
        return str(redacted), findings


def _findings(results: Sequence[Any]) -> list[Finding]:
    return [Finding(r.entity_type, r.start, r.end, round(r.score, 3)) for r in results]


def entity_counts(findings: Sequence[Finding]) -> dict[str, int]:
    return dict(sorted(Counter(f.entity for f in findings).items()))


_SCANNERS: dict[tuple[Path, str | None], PiiScanner] = {}
_SCANNERS_LOCK = threading.Lock()


def shared_scanner(*, cache_dir: Path, spacy_model: str | None = None) -> PiiScanner:
    """One scanner per process and configuration."""
    with _SCANNERS_LOCK:
        key = (cache_dir, spacy_model)
        if key not in _SCANNERS:
            _SCANNERS[key] = PiiScanner(cache_dir=cache_dir, spacy_model=spacy_model)
        return _SCANNERS[key]
