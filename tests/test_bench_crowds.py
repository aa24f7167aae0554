"""The crowd scenarios' parts (slow-n8n, slow-senders): hey's summary read right, the Python
load generator and the tricklers against real local servers, the probes' summary."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from sidecar.bench.crowd import python_crowd
from sidecar.bench.hey import parse_hey
from sidecar.bench.probe import PROBE_TIMEOUT, summary
from sidecar.bench.trickle import Trickle
from sidecar.harness.n8n_standin import FakeN8n, Reply

HEY_SUMMARY = """
Summary:
  Total:\t25.3281 secs
  Slowest:\t9.9871 secs
  Fastest:\t1.0012 secs
  Requests/sec:\t83.2102

Latency distribution:
  10% in 1.0311 secs
  50% in 5.3912 secs
  99% in 9.4521 secs

Status code distribution:
  [200]\t288 responses
  [502]\t2 responses

Error distribution:
  [1838]\tPost "http://127.0.0.1:1/webhook/slow": context deadline exceeded (Client.Timeout \
exceeded while awaiting headers)
  [2]\tPost "http://127.0.0.1:1/webhook/slow": EOF
"""


def test_hey_s_summary_gives_the_rate_of_200s_the_percentiles_and_every_failure() -> None:
    figures = parse_hey(HEY_SUMMARY)
    assert figures.answered == 288
    assert figures.failed == 1838 + 2 + 2  # timeouts, other errors, other statuses
    assert figures.elapsed == pytest.approx(25.3281)
    assert figures.rate_per_s == pytest.approx(288 / 25.3281)
    assert (figures.p50_ms, figures.p99_ms) == pytest.approx((5391.2, 9452.1))


def test_with_under_100_answers_hey_s_p99_is_the_slowest_answer() -> None:
    text = HEY_SUMMARY.replace("99% in 9.4521 secs", "0% in 0.0000 secs")
    assert parse_hey(text).p99_ms == pytest.approx(9987.1)


def test_the_python_crowd_counts_answers_and_timeouts(n8n: FakeN8n) -> None:
    n8n.script("/webhook/slow", [Reply(200, delay=0.2)])
    n8n.script("/webhook/stuck", [Reply(200, delay=1.0)])
    slow = python_crowd(n8n.port, "/webhook/slow", 4, 0.5, 2.0)
    assert slow.answered >= 4 and slow.failed == 0
    assert 200 <= slow.p50_ms < 1000
    stuck = python_crowd(n8n.port, "/webhook/stuck", 3, 0.1, 0.3)
    assert stuck.answered == 0 and stuck.failed == 3


@pytest.fixture
def closing_server() -> Iterator[int]:
    """A server that closes every connection once it has read its first bytes."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.recv(1024)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


def test_tricklers_closed_by_the_server_are_counted_with_the_time(closing_server: int) -> None:
    figures = Trickle(closing_server, 3, 3.0).start().join(15)
    for kind in ("headers", "body"):
        assert figures[kind]["opened"] == figures[kind]["closed_by_server"] == 3
        assert figures[kind]["median_close_s"] < 2.0


def test_tricklers_left_open_by_the_server_are_not_counted_as_closed(n8n: FakeN8n) -> None:
    figures = Trickle(n8n.port, 2, 1.5).start().join(15)
    for kind in ("headers", "body"):
        assert figures[kind] == {
            "opened": 2,
            "closed_by_server": 0,
            "median_close_s": None,
            "refused": 0,
        }


def test_a_probe_without_answer_counts_as_the_timeout() -> None:
    assert summary([2.0, None, 4.0]) == {
        "probes": 3,
        "median_ms": 4.0,
        "max_ms": PROBE_TIMEOUT * 1000,
        "no_answer": 1,
        "each_ms": [2.0, None, 4.0],
    }
