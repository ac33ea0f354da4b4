"""The audit trail and log retention of the API: what each key did, and the periodic purge of
answer-log and audit rows past ``RAG_LOG__RETENTION_DAYS``."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from api.auth import Principal
from rag.storage import answer_log, audit, jobs
from rag.storage.knowledge_base import KnowledgeBase
from rag.storage.models import utcnow

log = logging.getLogger(__name__)


def record(
    kb: KnowledgeBase,
    principal: Principal,
    action: str,
    *,
    collection: str = "",
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """One audit entry, in its own transaction, with the caller's key id."""
    with kb.write_session.begin() as session:
        audit.record(
            session, key_id=principal.key_id, action=action, collection=collection,
            target=target, detail=detail,
        )  # fmt: skip


def purge_old_logs(kb: KnowledgeBase, *, retention_days: int) -> dict[str, int]:
    """Delete answers (with their feedback), audit entries and finished jobs (with their
    batch questions and answers) older than the retention."""
    if retention_days <= 0:
        return {"answers": 0, "audit_entries": 0, "jobs": 0}
    moment = utcnow() - timedelta(days=retention_days)
    with kb.write_session.begin() as session:
        answers = answer_log.purge_before(session, moment=moment)
        entries = audit.purge_before(session, moment=moment)
        finished = jobs.purge_finished_before(session, moment=moment)
    return {"answers": answers, "audit_entries": entries, "jobs": finished}


class RetentionTask:
    """Purges old log rows at start-up and then every ``interval_s`` seconds."""

    def __init__(self, kb: KnowledgeBase, *, retention_days: int, interval_s: float) -> None:
        self.kb = kb
        self.retention_days = retention_days
        self.interval_s = interval_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rag-retention", daemon=True)

    def start(self) -> None:
        if self.retention_days > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while True:
            try:
                purged = purge_old_logs(self.kb, retention_days=self.retention_days)
                if any(purged.values()):
                    log.info("purged old log rows: %s", purged)
            except Exception:  # a database hiccup must not end the task
                log.exception("purging old log rows failed")
            if self._stopping.wait(self.interval_s):
                return
