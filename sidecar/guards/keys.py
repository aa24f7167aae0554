"""Pulling a value out of a request: a header, `body.<json path>` or `query.<name>`."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from sidecar.capture import CapturedRequest


def extract(captured: CapturedRequest, spec: str) -> str | None:
    """The value `spec` names in `captured`, as text; None when absent."""
    if spec.startswith("body."):
        return _from_json(captured.body, spec[5:].split("."))
    if spec.startswith("query."):
        values = parse_qs(captured.query, keep_blank_values=True).get(spec[6:])
        return values[0] if values else None
    return captured.header(spec)


def _from_json(body: bytes, path: list[str]) -> str | None:
    try:
        value: object = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    for step in path:
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    if value is None or isinstance(value, dict | list):
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)
