"""Error answers of SPEC §5, shared by the Flask app and the webhook WSGI handler."""

from __future__ import annotations

import logging

from werkzeug.exceptions import HTTPException

from sidecar.errors import BackendUnavailable, Rejected, UpstreamError
from sidecar.redact import redact

log = logging.getLogger("sidecar.http")
RETRY_AFTER_SECONDS = "5"


def error_answer(exc: BaseException) -> tuple[int, dict[str, object], dict[str, str]]:
    """(status, JSON body, extra headers) for any exception: never HTML, never a traceback,
    never an internal address or exception text (those go to the log)."""
    if isinstance(exc, Rejected):
        return exc.status, exc.body(), exc.headers
    if isinstance(exc, UpstreamError):
        log.warning("n8n gave no answer: %s", redact(str(exc)))  # details for the operator
        return exc.status, {"error": exc.code, "message": exc.public}, {}
    if isinstance(exc, BackendUnavailable):
        log.warning("answering 503, Redis cannot be used: %s", redact(str(exc)))
        message = "Redis is unavailable; retry later"
        retry = {"Retry-After": RETRY_AFTER_SECONDS}
        return 503, {"error": "service_unavailable", "message": message}, retry
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    log.error("unexpected error", exc_info=exc)
    return 500, {"error": "internal_error", "message": "the sidecar hit an unexpected error"}, {}


def _http_error(exc: HTTPException) -> tuple[int, dict[str, object], dict[str, str]]:
    """A werkzeug error (404 of an unknown route, 405, …) as JSON, keeping its Allow header."""
    code = (exc.name or "error").lower().replace(" ", "_")
    headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
    return exc.code or 500, {"error": code, "message": exc.description or exc.name}, headers
