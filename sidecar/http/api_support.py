"""Helpers shared by the management API blueprints: Redis, queue names, paging, JSON bodies."""

from __future__ import annotations

import redis
from flask import request

from sidecar.backend.queue_names import all_queues, resolve
from sidecar.errors import BadRequest, NotFound, ServiceUnavailable
from sidecar.http.state import current_state
from sidecar.queues.intake import Intake
from sidecar.settings import Settings

MAX_PAGE = 500


def settings() -> Settings:
    """The app's settings."""
    return current_state().settings


def intake() -> Intake:
    """The intake (every job write goes through it); 503 when the sidecar runs without Redis."""
    found = current_state().intake
    if found is None:
        raise ServiceUnavailable("queues need Redis: set REDIS_URL, REDIS_HOST or REDIS_SENTINELS")
    return found


def redis_client() -> redis.Redis:
    """The Redis client; 503 when the sidecar runs without Redis."""
    return intake().client


def queue_param(given: str | None) -> str | None:
    """A work queue named as 'tasks:create' or 'flrts:tasks:create'; 404 if unknown."""
    if not given:
        return None
    prefix = settings().queue_prefix
    try:
        name = resolve(prefix, given)
    except ValueError as exc:
        raise NotFound(str(exc)) from None
    if name not in all_queues(prefix):
        raise NotFound(f"{given!r} is not a work queue")
    return name


def int_param(name: str, default: int, low: int = 0, high: int = 1_000_000) -> int:
    """An integer query parameter within [low, high]; 400 otherwise."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name!r} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"query parameter {name!r} must be between {low} and {high}")
    return value


def json_body(required: bool = False) -> dict:
    """The request's JSON object body ({} when empty and not required); 400 when malformed."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise BadRequest("a JSON object body is required")
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body
