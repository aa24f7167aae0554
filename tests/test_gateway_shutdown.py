"""SIGTERM to a gateway with a slow request in flight: the request gets n8n's answer, then
the gateway exits 0 (docs/operations.md, stop_grace_period in compose/)."""

from __future__ import annotations

import threading

import requests

from sidecar.harness.n8n_standin import FakeN8n, Reply
from sidecar.harness.sidecar_processes import Gateway
from sidecar.harness.waiting import wait_until


def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(n8n: FakeN8n, procs) -> None:
    answer = threading.Event()  # n8n answers only when the test says so
    n8n.script("/webhook/slow", [Reply(200, body={"from": "n8n"}, hold=answer)])
    gateway: Gateway = procs.gateway(
        N8N_URL=n8n.url, SIDECAR_MODE="single", SIDECAR_LOG_LEVEL="INFO"
    )
    answered: list[requests.Response] = []
    sender = threading.Thread(
        target=lambda: answered.append(
            requests.post(f"{gateway.url}/webhook/slow", data=b"in flight", timeout=60)
        )
    )
    sender.start()
    wait_until(
        lambda: any(r.path == "/webhook/slow" for r in n8n.received),
        timeout=20,
        what="the request to reach n8n",
    )

    gateway.terminate()
    wait_until(lambda: "Handling signal: term" in gateway.output(), timeout=20, what="SIGTERM")
    assert gateway.process.poll() is None and sender.is_alive()  # still waiting for n8n
    answer.set()
    sender.join(30)

    assert [(r.status_code, r.json()) for r in answered] == [(200, {"from": "n8n"})]
    assert gateway.process.wait(30) == 0, gateway.output()
