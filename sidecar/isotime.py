"""Times as SPEC's JSON shows them: ISO-8601 UTC with milliseconds and a Z."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(at: float) -> str:
    """Unix seconds as ISO-8601 UTC, e.g. '2026-11-02T10:00:00.000Z'."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
