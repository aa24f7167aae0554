"""Alerts: POSTed to a real receiver with retries, de-duplicated, streamed and counted."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
from prometheus_client import REGISTRY
from support.alert_receiver import AlertReceiver

from sidecar.alerts import Alert, Alerter
from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.harness.ports import free_port
from sidecar.mode.controller import Event, Signals
from sidecar.mode.event_alerts import alert_from_event

FAST = {"retry_wait": 0.05, "retry_max_wait": 0.2, "timeout": 2.0}
SPEC_FIELDS = {"kind", "severity", "message", "signals", "mode", "at"}


@pytest.fixture
def receiver() -> Iterator[AlertReceiver]:
    with AlertReceiver() as server:
        yield server


@pytest.fixture
def make_alerter() -> Iterator:
    """Build alerters that are closed after the test."""
    made: list[Alerter] = []

    def make(*args: object, **options: object) -> Alerter:
        alerter = Alerter(*args, **{"keys": DEFAULT_KEYS, **FAST, **options})  # type: ignore[arg-type]
        made.append(alerter)
        return alerter

    yield make
    for alerter in made:
        alerter.close(0.2)


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def crossed(subject: str = "webhooks_per_hour") -> Alert:
    """A threshold_crossed alert."""
    return Alert.make(
        "threshold_crossed",
        f"{subject} 612 over 500 for 300 s",
        "single",
        {"webhooks_per_hour": 612.0, "exec_p95_seconds": 1.5, "memory_percent": 40.0},
    )


def alerts_total(kind: str) -> float:
    """The current value of sidecar_alerts_total{kind}."""
    return REGISTRY.get_sample_value("sidecar_alerts_total", {"kind": kind}) or 0.0


def test_an_alert_is_posted_as_the_spec_json(
    receiver: AlertReceiver, rdb: redis.Redis, make_alerter
) -> None:
    alerter = make_alerter(rdb, receiver.url, 60)

    assert alerter.emit(crossed(), "webhooks_per_hour")

    [posted] = receiver.wait_for(1)
    assert set(posted) == SPEC_FIELDS
    assert posted["kind"] == "threshold_crossed" and posted["severity"] == "warning"
    assert posted["mode"] == "single" and posted["signals"]["webhooks_per_hour"] == 612.0
    assert posted["at"].endswith("Z")


def test_delivery_is_retried_after_the_receiver_fails(
    receiver: AlertReceiver, rdb: redis.Redis, make_alerter
) -> None:
    receiver.fail_next(2, status=500)
    alerter = make_alerter(rdb, receiver.url, 60)

    alerter.emit(crossed())

    receiver.wait_for(1)
    assert [status for status, _ in receiver.attempts] == [500, 500, 200]
    assert receiver.attempts[0][1] == receiver.attempts[2][1]


def test_delivery_gives_up_after_the_last_attempt_and_the_next_alert_still_goes(
    receiver: AlertReceiver, make_alerter
) -> None:
    receiver.fail_next(3, status=503)
    alerter = make_alerter(None, receiver.url, 60, attempts=3)
    alerter.emit(crossed())
    assert alerter.drain(5)
    assert len(receiver.attempts) == 3 and receiver.accepted == []

    alerter.emit(crossed("memory_percent"), "memory_percent")

    assert receiver.wait_for(1)[0]["message"].startswith("memory_percent")


def test_a_refusal_other_than_408_429_5xx_is_not_retried(
    receiver: AlertReceiver, make_alerter
) -> None:
    receiver.fail_next(1, status=400)
    alerter = make_alerter(None, receiver.url, 60)

    alerter.emit(crossed())

    assert alerter.drain(5)
    assert [status for status, _ in receiver.attempts] == [400]


def test_emit_never_waits_for_the_webhook(receiver: AlertReceiver, make_alerter) -> None:
    receiver.hold()  # the receiver answers nothing until released
    alerter = make_alerter(None, receiver.url, 60)

    for n in range(20):  # would block here, on the first POST, if emit waited for it
        assert alerter.emit(crossed(f"signal{n}"), f"signal{n}")

    receiver.wait_for_attempts(1)  # the POST is on its way, held by the receiver
    assert receiver.accepted == []
    receiver.release()
    assert len(receiver.wait_for(20)) == 20


def test_the_same_alert_is_raised_once_per_cooldown(
    receiver: AlertReceiver, rdb: redis.Redis, make_alerter
) -> None:
    clock = FakeClock()
    alerter = make_alerter(rdb, receiver.url, 60, clock=clock)

    assert alerter.emit(crossed(), "webhooks_per_hour")
    assert 50_000 < rdb.pttl("sidecar:alert:threshold_crossed:webhooks_per_hour") <= 60_000
    clock.advance(59)
    assert not alerter.emit(crossed(), "webhooks_per_hour")
    assert alerter.emit(crossed("memory_percent"), "memory_percent")  # another subject
    clock.advance(2)  # the cool-down is over, here and (its key expired) in Redis
    rdb.delete("sidecar:alert:threshold_crossed:webhooks_per_hour")
    assert alerter.emit(crossed(), "webhooks_per_hour")

    assert len(receiver.wait_for(3)) == 3
    assert alerter.drain(2) and len(receiver.accepted) == 3


def test_gateways_sharing_redis_raise_an_alert_once(
    receiver: AlertReceiver, rdb: redis.Redis, redis_url: str, make_alerter
) -> None:
    other = redis.Redis.from_url(redis_url)
    first, second = make_alerter(rdb, receiver.url, 60), make_alerter(other, receiver.url, 60)

    assert first.emit(crossed(), "webhooks_per_hour")
    assert not second.emit(crossed(), "webhooks_per_hour")

    assert first.drain(2) and second.drain(2)
    assert len(receiver.accepted) == 1
    other.close()


def test_alerts_go_to_the_event_stream_and_the_metric(rdb: redis.Redis, make_alerter) -> None:
    before = alerts_total("dlq_growing")
    alerter = make_alerter(rdb, None, 60)
    alert = Alert.make("dlq_growing", "dead-letter queue grew from 1 to 4 entries", "queue")

    alerter.emit(alert, "dlq")
    alerter.emit(alert, "dlq")  # suppressed: not streamed, not counted

    entries = rdb.xrange(DEFAULT_KEYS.events)
    assert len(entries) == 1
    fields = entries[0][1]
    assert fields[b"type"] == b"alert"
    assert json.loads(fields[b"data"]) == alert.to_dict()
    assert alerts_total("dlq_growing") == before + 1


def test_without_redis_alerts_are_still_posted(
    receiver: AlertReceiver, dead_redis: redis.Redis, make_alerter
) -> None:
    alerter = make_alerter(dead_redis, receiver.url, 60)
    alert = Alert.make("redis_unreachable", "Redis unreachable", "single")

    assert alerter.emit(alert, "redis")
    assert not alerter.emit(alert, "redis")  # de-duplicated in-process

    assert receiver.wait_for(1)[0]["kind"] == "redis_unreachable"
    assert receiver.wait_for(1)[0]["severity"] == "critical"


def test_controller_events_become_alerts() -> None:
    event = Event("mode_changed", "single → queue: webhooks_per_hour 612 over 500 for 300 s")
    signals = Signals(webhooks_per_hour=612, exec_p95_seconds=None, memory_percent=41)

    alert, subject = alert_from_event(event, signals, "queue", at=0.0)

    assert subject == "queue"
    assert alert.to_dict() == {
        "kind": "mode_changed",
        "severity": "warning",
        "message": event.message,
        "signals": {
            "webhooks_per_hour": 612,
            "exec_p95_seconds": None,
            "memory_percent": 41,
            "eventloop_lag_seconds": None,
        },
        "mode": "queue",
        "at": "1970-01-01T00:00:00.000Z",
    }
    crossing = Event("threshold_crossed", "m", "memory_percent", 91.0, 80.0)
    assert alert_from_event(crossing, signals, "single", 0.0)[1] == "memory_percent"


def test_a_failed_post_is_logged_without_the_webhook_urls_token(
    make_alerter, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{free_port()}/bot123:TOKENsecret/send?key=QuerySecret"
    alerter = make_alerter(None, url, 60, attempts=1)

    alerter.emit(crossed())

    assert alerter.drain(5)
    [line] = [r.getMessage() for r in caplog.records if "not delivered" in r.getMessage()]
    assert "ConnectionError" in line  # the detail is there
    assert "TOKENsecret" not in line and "QuerySecret" not in line
