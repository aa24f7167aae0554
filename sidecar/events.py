"""The event stream (KeySchema.events, `sidecar:events` under the default prefix): completed,
failed, stalled, duplicate, rate_limited, mode_changed, alert — one capped Redis stream
every process writes and `GET /v1/events` reads.

Each entry has two fields: `type` and `data` (a JSON object). XADD MAXLEN ~ keeps it near
STREAM_MAXLEN entries.
"""

from __future__ import annotations

import json
import re
from typing import Any

import redis

from sidecar.backend.connection import translate
from sidecar.backend.keys import KeySchema

STREAM_MAXLEN = 10_000
STREAM_ID = re.compile(r"^(\d+)(-\d+)?$")


def encode_data(data: dict[str, Any]) -> str:
    """The `data` field of an event: `data` as JSON (what is not JSON as its str)."""
    return json.dumps(data, default=str)


def add_event(
    target: redis.Redis | redis.client.Pipeline, keys: KeySchema, kind: str, data: dict[str, Any]
) -> None:
    """XADD one event on `target` (a client, or a pipeline to batch it with other writes)."""
    fields = {"type": kind, "data": encode_data(data)}
    target.xadd(keys.events, fields, maxlen=STREAM_MAXLEN, approximate=True)


def publish_event(client: redis.Redis, keys: KeySchema, kind: str, data: dict[str, Any]) -> str:
    """XADD one event now; its id. BackendUnavailable when Redis cannot take it."""
    fields = {"type": kind, "data": encode_data(data)}
    with translate():
        entry_id = client.xadd(keys.events, fields, maxlen=STREAM_MAXLEN, approximate=True)
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def valid_stream_id(value: str) -> bool:
    """Whether `value` is a stream id ('1700000000000-0' or '1700000000000'), or '0'."""
    return bool(STREAM_ID.match(value))


def read_events(
    client: redis.Redis,
    keys: KeySchema,
    after: str = "0",
    count: int = 100,
    block_ms: int | None = None,
) -> list[dict[str, Any]]:
    """Events with an id greater than `after`, oldest first (waiting up to block_ms if given)."""
    with translate():
        if block_ms is None:
            rows = client.xrange(keys.events, min=f"({after}", max="+", count=count)
        else:
            reply = client.xread({keys.events: after}, count=count, block=block_ms)
            rows = reply[0][1] if reply else []
    return [_event(entry_id, fields) for entry_id, fields in rows]


def _event(entry_id: bytes, fields: dict[bytes, bytes]) -> dict[str, Any]:
    data = fields.get(b"data", b"{}")
    return {
        "id": entry_id.decode(),
        "type": fields.get(b"type", b"").decode(),
        "data": json.loads(data),
    }
