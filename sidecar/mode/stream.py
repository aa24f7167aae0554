"""The event stream `sidecar:events` (SPEC §5 `GET /v1/events`), as the mode package writes it.

Each entry has two fields: `type` (alert, mode_changed, …) and `data` (a JSON object). The
stream is capped near STREAM_MAXLEN entries (XADD MAXLEN ~), so it never grows unbounded.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from sidecar.mode.lock import as_text
from sidecar.queues.connection import translate

STREAM_KEY = "sidecar:events"
STREAM_MAXLEN = 10_000


def publish_event(client: redis.Redis, event_type: str, data: dict[str, Any]) -> str:
    """XADD one event; its stream id. BackendUnavailable when Redis cannot take it."""
    fields = {"type": event_type, "data": json.dumps(data, default=str)}
    with translate():
        entry_id = client.xadd(STREAM_KEY, fields, maxlen=STREAM_MAXLEN, approximate=True)
    return str(as_text(entry_id))
