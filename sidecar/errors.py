"""One exception tree for the sidecar.

    SidecarError
     ├── ConfigError            bad settings or routes (CLI exit 2, one line per problem)
     ├── BackendUnavailable     Redis cannot be used right now (callers fall back)
     ├── UpstreamError          n8n could not give an answer
     │    ├── UpstreamNotReached    n8n never got the request: refused, connect
     │    │                         timeout, DNS failure, cut before fully written → 502
     │    └── UpstreamFailedAfterSend  n8n got (or may have got) it, no answer → 502
     │         └── UpstreamTimeout      no answer within the timeout       → 504
     └── Rejected               a request answered with an error status (SPEC §5 JSON)
          ├── BadRequest            malformed input to the API         → 400
          ├── Unauthorized          no or unknown bearer token         → 401
          ├── Forbidden             token's role too weak              → 403
          ├── NotFound              unknown job, entry or queue        → 404
          ├── Conflict              e.g. replaying a job still waiting → 409
          ├── Duplicate             seen within the dedup window        → 200 {"status":"duplicate"}
          ├── BadSignature          HMAC or shared secret missing/wrong → 401
          ├── RateLimited           user over the per-user limit       → 429 + Retry-After
          ├── PayloadTooLarge       body over SIDECAR_MAX_BODY_BYTES   → 413
          ├── ServiceUnavailable    n8n and Redis both unusable        → 503 + Retry-After
          └── BacklogFull           the queue's buffer is full         → 503 + Retry-After

Errors are translated where they enter: urllib3 errors in upstream.py, redis errors in
backend/connection.py. One Flask handler turns every `Rejected` into its JSON answer.
Only an `UpstreamNotReached` webhook may be sent again by the gateway (queued in single
mode): n8n may already run a workflow for any other failure.
"""

from __future__ import annotations

from sidecar.redact import redact


class SidecarError(Exception):
    """Base of every error the sidecar raises on purpose."""


class ConfigError(SidecarError):
    """Invalid configuration; `problems` holds one readable line each, with URL passwords
    and secret-looking query values masked (sidecar.redact)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = [redact(problem) for problem in problems]
        super().__init__("; ".join(self.problems))


class BackendUnavailable(SidecarError):
    """Redis is unreachable or refused the command."""


class UpstreamError(SidecarError):
    """n8n gave no usable answer. `str(exc)` is the detail for the log (internal URL, cause);
    `public` is all an outside sender reads."""

    status = 502
    code = "upstream_unreachable"
    public = "n8n is unreachable"


class UpstreamNotReached(UpstreamError):
    """n8n provably never got the request: connection refused, connect timeout, DNS
    failure, or the connection failed before the whole request was written."""


class UpstreamFailedAfterSend(UpstreamError):
    """n8n got the request, or may have, and gave no answer (connection reset or closed
    afterwards): sending it again could run the workflow twice."""

    public = "n8n closed the connection without answering"


class UpstreamTimeout(UpstreamFailedAfterSend):
    """n8n did not answer within SIDECAR_UPSTREAM_TIMEOUT_SECONDS."""

    status = 504
    code = "upstream_timeout"
    public = "n8n did not answer in time"


class Rejected(SidecarError):
    """A request the sidecar answers itself with an error status and JSON body."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        """The JSON body of SPEC §5: {"error", "message"} plus any extra fields."""
        return {"error": self.code, "message": self.message}


class BadRequest(Rejected):
    """Malformed input: bad JSON, bad parameters."""


class Unauthorized(Rejected):
    """No bearer token, or one that is not configured."""

    status = 401
    code = "unauthorized"


class Forbidden(Rejected):
    """The token's role may not do this."""

    status = 403
    code = "forbidden"


class NotFound(Rejected):
    """The job, dead letter or queue named does not exist."""

    status = 404
    code = "not_found"


class Conflict(Rejected):
    """The request conflicts with the current state."""

    status = 409
    code = "conflict"


class Duplicate(Rejected):
    """The same webhook was accepted within the dedup window: nothing is enqueued."""

    status = 200
    code = "duplicate"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"duplicate of job {job_id}")
        self.job_id = job_id

    def body(self) -> dict[str, object]:
        """SPEC §5: {"status": "duplicate", "jobId": <first job>}."""
        return {"status": "duplicate", "jobId": self.job_id}


class BadSignature(Rejected):
    """The route's HMAC signature or shared-secret header is missing or does not match."""

    status = 401
    code = "bad_signature"


class RateLimited(Rejected):
    """The user is over the per-user, per-operation limit."""

    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many requests; retry in {retry_after} s", {"Retry-After": str(retry_after)}
        )
        self.retry_after = retry_after

    def body(self) -> dict[str, object]:
        """SPEC §5: {"error": "rate_limited", "retryAfter": N} (and a message)."""
        return {**super().body(), "retryAfter": self.retry_after}


class PayloadTooLarge(Rejected):
    """The request body is larger than SIDECAR_MAX_BODY_BYTES."""

    status = 413
    code = "payload_too_large"


class RequestTimeout(Rejected):
    """The sender did not send its headers or body within the read deadline
    (SIDECAR_HEADER_TIMEOUT_SECONDS, SIDECAR_BODY_TIMEOUT_SECONDS)."""

    status = 408
    code = "request_timeout"


class ServiceUnavailable(Rejected):
    """Neither n8n nor Redis can take the request; the sender should retry."""

    status = 503
    code = "service_unavailable"


class BacklogFull(Rejected):
    """The queue holds SIDECAR_MAX_WAITING jobs (or Redis memory is full): nothing was
    stored; the sender should come back after `retry_after` seconds."""

    status = 503
    code = "backlog_full"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"the queue is full; retry in {retry_after} s", {"Retry-After": str(retry_after)}
        )
        self.retry_after = retry_after

    def body(self) -> dict[str, object]:
        """{"error": "backlog_full", "message", "retryAfter": N}."""
        return {**super().body(), "retryAfter": self.retry_after}
