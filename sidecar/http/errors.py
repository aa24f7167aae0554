"""Error answers of SPEC §5, shared by the Flask app and the webhook WSGI handler."""

from __future__ import annotations

import logging

from werkzeug.exceptions import HTTPException

from sidecar.errors import Rejected, UpstreamError

log = logging.getLogger("sidecar.http")


def error_answer(exc: BaseException) -> tuple[int, dict[str, object], dict[str, str]]:
    """(status, JSON body, extra headers) for any exception: never HTML, never a traceback."""
    if isinstance(exc, Rejected):
        return exc.status, exc.body(), exc.headers
    if isinstance(exc, UpstreamError):
        log.warning("n8n gave no answer: %s", exc)
        return exc.status, {"error": exc.code, "message": str(exc)}, {}
    if isinstance(exc, HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return exc.code or 500, {"error": code, "message": exc.description or exc.name}, {}
    log.error("unexpected error", exc_info=exc)
    return 500, {"error": "internal_error", "message": "the sidecar hit an unexpected error"}, {}
