"""Delivery settings (n8n circuit, pace, buffer): their defaults. Bad values: test_settings.py."""

from __future__ import annotations

from sidecar.settings import load_settings


def test_defaults_hold_jobs_for_hours_adapt_the_pace_and_bound_the_buffer() -> None:
    settings = load_settings()
    assert settings.max_outage_seconds >= 3600  # hours, not seconds
    assert settings.pace_adaptive is True
    assert settings.pace_target_seconds == 1.0
    assert settings.max_waiting == 100_000
    assert settings.max_redis_memory_percent == 95
