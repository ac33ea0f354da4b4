"""What the lifespan builds and the routes receive: one object, no module globals."""

from __future__ import annotations

from dataclasses import dataclass

from api.metrics import Metrics
from api.resources import Resources
from api.services.answering import AnsweringService
from api.services.gate import LLMGate
from api.services.jobs import JobRunner
from rag.settings import Settings


@dataclass(frozen=True, slots=True)
class AppState:
    settings: Settings
    resources: Resources
    metrics: Metrics
    gate: LLMGate
    answering: AnsweringService
    jobs: JobRunner
