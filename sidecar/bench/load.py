"""Load generators: keep-alive HTTP senders, closed-loop (as fast as answers come) or paced
(a steady rate, open loop). Every webhook is numbered (`seq`) and stamped with the time it
was due (`sentAt`, unix ms), so the stand-in upstream can tell lost, duplicated and late ones.
A paced webhook is stamped with its *scheduled* time: a sender that falls behind adds its lag
to the latency instead of hiding it (no coordinated omission)."""

from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sidecar.bench.errors import BenchError
from sidecar.bench.progress import Counter

WEBHOOK_PATH = "/webhook/bench"
SEND_HEADERS = {"Content-Type": "application/json", "X-User-Id": "42"}
SEQUENCE = itertools.count(1)  # unique across a run: the dedup guard lets every webhook in


@dataclass(frozen=True)
class Answer:
    """One webhook sent: its number, when it was due (unix s), latency (s), status, mode."""

    seq: int
    due: float
    latency: float
    status: int
    mode: str


def webhook_body(seq: int, due: float) -> bytes:
    """A small Telegram-like update, numbered and stamped."""
    update = {
        "update_id": seq,
        "seq": seq,
        "sentAt": due * 1000,
        "message": {"text": "hello", "from": {"id": 42}},
    }
    return json.dumps(update).encode()


class Sender:
    """One keep-alive connection to 127.0.0.1:`port`; `post` sends one numbered webhook."""

    def __init__(self, port: int, path: str = WEBHOOK_PATH) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.path = path

    def post(self, seq: int, due: float | None = None) -> Answer:
        """POST webhook `seq` (due now unless `due` is given); its Answer."""
        due = time.time() if due is None else due
        started = time.perf_counter()
        try:
            self.conn.request("POST", self.path, body=webhook_body(seq, due), headers=SEND_HEADERS)
            response = self.conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise BenchError(f"sending to port {self.conn.port} failed: {exc!r}") from None
        mode = response.getheader("X-Sidecar-Mode", "")
        return Answer(seq, due, time.perf_counter() - started, response.status, mode)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def check_status(answer: Answer, expected: int | None) -> Answer:
    """`answer`, or BenchError when its status is not the expected one."""
    if expected is not None and answer.status != expected:
        raise BenchError(f"answered {answer.status}, not {expected} (webhook {answer.seq})")
    return answer


def _run_senders(
    senders: int, work: Callable[[int, threading.Event], list[Answer]], deadline: float
) -> list[Answer]:
    """Run `work(sender_index, stop)` on `senders` threads; the first failure stops all."""
    stop = threading.Event()
    with ThreadPoolExecutor(senders) as pool:
        futures = [pool.submit(work, index, stop) for index in range(senders)]
        try:
            parts = [
                future.result(timeout=max(1.0, deadline - time.monotonic())) for future in futures
            ]
        except TimeoutError:
            stop.set()
            raise BenchError("the senders did not finish in time") from None
        except BaseException:
            stop.set()
            raise
    return [answer for part in parts for answer in part]


def send_closed_loop(
    port: int,
    total: int,
    senders: int,
    timeout: float,
    counter: Counter | None = None,
    expected: int | None = None,
    path: str = WEBHOOK_PATH,
) -> tuple[list[Answer], float]:
    """`total` webhooks over `senders` connections, each as soon as the last was answered;
    (answers, elapsed seconds)."""
    shares = [total // senders + (1 if i < total % senders else 0) for i in range(senders)]
    deadline = time.monotonic() + timeout

    def work(index: int, stop: threading.Event) -> list[Answer]:
        sender, answers = Sender(port, path), []
        try:
            for _ in range(shares[index]):
                if stop.is_set() or time.monotonic() > deadline:
                    raise BenchError(f"sending {total} webhooks took longer than {timeout:g} s")
                answers.append(check_status(sender.post(next(SEQUENCE)), expected))
                if counter:
                    counter.add()
        finally:
            sender.close()
        return answers

    started = time.perf_counter()
    answers = _run_senders(senders, work, deadline)
    return answers, time.perf_counter() - started


def send_paced(
    port: int,
    rate: float,
    duration: float,
    senders: int,
    counter: Counter | None = None,
    path: str = WEBHOOK_PATH,
) -> list[Answer]:
    """`rate` webhooks a second for `duration` seconds, each sent when due by whichever of
    `senders` connections is free; every answer, whatever its status."""
    total = max(1, round(rate * duration))
    tickets, first_seq = itertools.count(), next(SEQUENCE)
    for _ in range(total - 1):
        next(SEQUENCE)
    start_mono, start_wall = time.monotonic() + 0.05, time.time() + 0.05
    deadline = start_mono + duration + 60

    def work(_index: int, stop: threading.Event) -> list[Answer]:
        sender, answers = Sender(port, path), []
        try:
            while not stop.is_set() and (ticket := next(tickets)) < total:
                wait = start_mono + ticket / rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                answers.append(sender.post(first_seq + ticket, start_wall + ticket / rate))
                if counter:
                    counter.add()
        finally:
            sender.close()
        return answers

    return sorted(_run_senders(senders, work, deadline), key=lambda answer: answer.seq)
