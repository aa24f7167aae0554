"""`n8n-sidecar check`: reach each dependency the configuration names."""

from __future__ import annotations

from dataclasses import dataclass

from sidecar.backend.connection import connect, ping
from sidecar.redact import redact
from sidecar.settings import Settings
from sidecar.upstream import Upstream


@dataclass(frozen=True)
class CheckResult:
    """One line of `check` output."""

    name: str
    ok: bool
    detail: str


def run_checks(settings: Settings) -> list[CheckResult]:
    """Check the configuration (already valid here), n8n, and Redis when configured."""
    results = [CheckResult("config", True, f"mode={settings.mode}, n8n={redact(settings.n8n_url)}")]
    upstream = Upstream(settings.n8n_url, timeout=5.0, pool_size=1)
    ok, detail = upstream.healthy()
    upstream.close()
    results.append(CheckResult("n8n", ok, f"{redact(settings.n8n_url)}/healthz: {detail}"))
    results.append(_check_redis(settings))
    return results


def _check_redis(settings: Settings) -> CheckResult:
    """Ping Redis when configured; not configured is fine (single mode only)."""
    if not settings.redis_configured:
        return CheckResult("redis", True, "not configured (single mode only)")
    ok, detail = ping(connect(settings))
    return CheckResult("redis", ok, detail)
