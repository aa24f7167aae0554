"""Settings of issue 14: defaults and bad values, one line each naming the variable."""

from __future__ import annotations

import pytest

from sidecar.errors import ConfigError
from sidecar.settings import load_settings


def test_defaults_hold_jobs_for_hours_adapt_the_pace_and_bound_the_buffer() -> None:
    settings = load_settings()
    assert settings.max_outage_seconds >= 3600  # hours, not seconds
    assert settings.pace_adaptive is True
    assert settings.pace_target_seconds == 1.0
    assert settings.max_waiting == 100_000
    assert settings.max_redis_memory_percent == 95


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("SIDECAR_MAX_OUTAGE_SECONDS", "0", "SIDECAR_MAX_OUTAGE_SECONDS: Input should be greater"),
        ("SIDECAR_PACE_TARGET_SECONDS", "-1", "SIDECAR_PACE_TARGET_SECONDS: Input should be"),
        ("SIDECAR_MAX_WAITING", "-1", "SIDECAR_MAX_WAITING: Input should be greater than or equal"),
        ("SIDECAR_MAX_REDIS_MEMORY_PERCENT", "101", "SIDECAR_MAX_REDIS_MEMORY_PERCENT: Input"),
        (
            "SIDECAR_PACE_ADAPTIVE",
            "maybe",
            "SIDECAR_PACE_ADAPTIVE: Input should be a valid boolean",
        ),
    ],
)
def test_each_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(expected)
