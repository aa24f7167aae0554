"""Retry policy (sidecar/worker/policy.py): which answers are retried, and after how long."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.worker.policy import (
    MAX_RETRY_AFTER_SECONDS,
    Outcome,
    classify,
    compute_backoff,
    parse_retry_after,
    retry_delay,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


# --- classify ---


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_done(status: int) -> None:
    assert classify(status) == "done"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_timeouts_rate_limits_and_server_errors_are_retried(status: int) -> None:
    assert classify(status) == "retry"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 410, 413, 422, 451])
def test_other_client_errors_are_dead(status: int) -> None:
    assert classify(status) == "dead"


@pytest.mark.parametrize("status", [300, 301, 302, 304])  # 300: the first one past 2xx
def test_redirects_are_not_retried(status: int) -> None:
    assert classify(status) == "dead"


# --- compute_backoff ---


@pytest.mark.parametrize(("attempt", "nominal"), [(1, 2.0), (2, 4.0), (3, 8.0), (6, 64.0)])
def test_backoff_doubles_per_attempt_within_jitter(attempt: int, nominal: float) -> None:
    random.seed(attempt)
    delays = [compute_backoff(attempt, 2.0) for _ in range(200)]

    assert all(nominal * 0.8 <= d <= nominal * 1.2 for d in delays)
    assert len(set(delays)) > 100  # jittered, so retries of many jobs do not line up
    assert min(delays) < nominal < max(delays)


def test_backoff_without_jitter_is_exact() -> None:
    assert [compute_backoff(n, 0.5, jitter=0) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]


def test_zero_base_means_no_backoff() -> None:
    assert compute_backoff(5, 0.0) == 0.0


@given(attempt=st.integers(1, 60), base=st.floats(0, 60), jitter=st.floats(0, 1))
def test_backoff_is_never_negative(attempt: int, base: float, jitter: float) -> None:
    assert compute_backoff(attempt, base, jitter) >= 0.0


# --- parse_retry_after ---


@pytest.mark.parametrize(("value", "seconds"), [("0", 0.0), ("1", 1.0), (" 120 ", 120.0)])
def test_retry_after_delta_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value) == seconds


def test_retry_after_http_date_in_the_future() -> None:
    value = format_datetime(NOW + timedelta(seconds=90), usegmt=True)

    assert parse_retry_after(value, now=NOW) == 90.0


def test_retry_after_http_date_in_the_past_is_now() -> None:
    value = format_datetime(NOW - timedelta(hours=1), usegmt=True)

    assert parse_retry_after(value, now=NOW) == 0.0


def test_retry_after_http_date_against_the_real_clock() -> None:
    # No `now` given: compared with the current (aware) time; 2100 is more than a day away.
    assert parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT") == MAX_RETRY_AFTER_SECONDS


def test_retry_after_date_without_zone_is_utc() -> None:
    assert parse_retry_after("Fri, 02 Jan 2026 03:05:05", now=NOW) == 60.0


@pytest.mark.parametrize("value", ["99999999", format_datetime(NOW + timedelta(days=30))])
def test_retry_after_is_capped_at_a_day(value: str) -> None:
    assert parse_retry_after(value, now=NOW) == MAX_RETRY_AFTER_SECONDS


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "soon",
        "-5",
        "1.5",
        "5s",
        "Mon, 32 Jan 2026 00:00:00 GMT",
        "\u00b2",  # '²' (latin-1 byte 0xB2 in a header) is a digit to str.isdigit()
        "\u0661\u0662",  # Arabic-Indic digits are not HTTP delta-seconds
        "Mon, 1 Jan 9999999999999999999 00:00:00 GMT",
    ],
)
def test_unusable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


@given(st.text())
def test_any_header_text_parses_or_is_ignored(value: str) -> None:
    seconds = parse_retry_after(value, now=NOW)

    assert seconds is None or 0.0 <= seconds <= MAX_RETRY_AFTER_SECONDS


@given(st.binary(max_size=40))
def test_any_header_bytes_parse_or_are_ignored(raw: bytes) -> None:
    seconds = parse_retry_after(raw.decode("latin-1"), now=NOW)  # how HTTP clients decode

    assert seconds is None or 0.0 <= seconds <= MAX_RETRY_AFTER_SECONDS


# --- retry_delay ---


def test_retry_delay_is_the_backoff_without_retry_after() -> None:
    random.seed(1)
    delay = retry_delay(Outcome("retry", status=503), attempt=2, base=1.0)

    assert 1.6 <= delay <= 2.4


def test_a_short_backoff_is_not_raised_without_retry_after() -> None:
    delay = retry_delay(Outcome("retry", status=503), attempt=1, base=0.1)

    assert 0.08 <= delay <= 0.12


def test_retry_after_longer_than_the_backoff_wins() -> None:
    assert retry_delay(Outcome("retry", status=429, retry_after=30.0), 1, base=1.0) == 30.0


def test_backoff_longer_than_retry_after_wins() -> None:
    delay = retry_delay(Outcome("retry", status=429, retry_after=1.0), attempt=4, base=2.0)

    assert delay >= 16 * 0.8
