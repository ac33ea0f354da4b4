"""Server-sent events through sse-starlette: JSON payloads, ``\\n`` line ends, no pings
(a generation's tokens keep the connection busy)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent


def json_event(payload: Any, event: str | None = None) -> ServerSentEvent:
    data = payload if isinstance(payload, str) else json.dumps(payload, default=str)
    return ServerSentEvent(data=data, event=event, sep="\n")


def event_stream(events: AsyncIterator[ServerSentEvent]) -> EventSourceResponse:
    return EventSourceResponse(events, sep="\n", ping=None, headers={"Cache-Control": "no-cache"})
