"""Switching mode while webhooks keep coming from several senders: every webhook is
answered 200 (passed through) or 202 (queued), and n8n gets each one exactly once after
the workers drain (counted by a unique id in each body)."""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import requests
from conftest import FAST_QUEUE_SETTINGS

from sidecar.harness.n8n_standin import FakeN8n
from sidecar.harness.waiting import wait_until

SENDERS = 4
PATH = "/webhook/echo/switching"
ADMIN = {"Authorization": "Bearer admin-token"}
CEILING = 400  # webhooks per sender at most, whatever happens


class Senders:
    """Threads posting webhooks with unique bodies at a steady pace until stopped."""

    def __init__(self, url: str) -> None:
        self.url, self.stop = url, threading.Event()
        self.answers: list[tuple[str, int, str]] = []  # (id, status, X-Sidecar-Mode)
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.send) for _ in range(SENDERS)]

    def send(self) -> None:
        with requests.Session() as session:
            for _ in range(CEILING):
                if self.stop.wait(0.01):
                    return
                unique = uuid.uuid4().hex
                response = session.post(self.url + PATH, data=unique, timeout=30)
                with self.lock:
                    self.answers.append(
                        (unique, response.status_code, response.headers.get("X-Sidecar-Mode"))
                    )

    def seen_after(self, start: int, status: int) -> bool:
        with self.lock:
            return any(answer[1] == status for answer in self.answers[start:])

    def count(self) -> int:
        with self.lock:
            return len(self.answers)


def switch(gateway_url: str, mode: str) -> None:
    response = requests.put(
        f"{gateway_url}/v1/mode", json={"mode": mode}, headers=ADMIN, timeout=20
    )
    assert response.status_code == 200, response.text


def phase(senders: Senders, gateway_url: str, mode: str, status: int) -> None:
    """Switch to `mode`; return once the gateway answers `status` in it and 20 more
    webhooks were answered (the switch happens while requests are in flight)."""
    switch(gateway_url, mode)
    start = senders.count()
    wait_until(lambda: senders.seen_after(start, status), timeout=30, what=mode)
    wait_until(lambda: senders.count() >= start + 20, timeout=30, what="traffic")


def test_switching_mode_under_load_loses_and_repeats_nothing(
    n8n: FakeN8n, redis_url: str, procs
) -> None:
    env = {**FAST_QUEUE_SETTINGS, "REDIS_URL": redis_url, "N8N_URL": n8n.url}
    env |= {"SIDECAR_MODE": "auto", "SIDECAR_ADMIN_TOKENS": "admin:admin-token"}
    gateway = procs.gateway(**env)
    worker = procs.worker(**env)
    wait_until(lambda: " delivering " in worker.output(), timeout=30, what="the worker")
    senders = Senders(gateway.url)
    for thread in senders.threads:
        thread.start()
    try:
        for mode, status in (("single", 200), ("queue", 202), ("single", 200), ("queue", 202)):
            phase(senders, gateway.url, mode, status)
    finally:
        senders.stop.set()
        for thread in senders.threads:
            thread.join(60)

    sent = {unique for unique, _, _ in senders.answers}
    assert len(sent) == len(senders.answers) > 0
    assert {status for _, status, _ in senders.answers} == {200, 202}
    # X-Sidecar-Mode names the mode that decided each answer, even across a switch.
    labels = {(status, mode) for _, status, mode in senders.answers}
    assert labels == {(200, "single"), (202, "queue")}, labels

    def delivered() -> Counter:
        return Counter(r.body.decode() for r in n8n.received if r.path == PATH)

    wait_until(lambda: set(delivered()) >= sent, timeout=60, what="every webhook at n8n")
    assert [body for body, times in delivered().items() if times != 1] == []
    assert worker.stop(30) == 0, worker.output()  # nothing more can arrive after this
    counted = delivered()
    assert set(counted) == sent
    assert [body for body, times in counted.items() if times != 1] == []
