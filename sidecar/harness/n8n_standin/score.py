"""The benchmark's score of deliveries, kept the way upstream.js keeps it, and the
/__bench/* control requests that read or reset it."""

from __future__ import annotations

import json
import threading
import time

from sidecar.harness.n8n_standin.messages import Received, Reply

CONTROL_PREFIX = "/__bench/"
MAX_SCORED_BODY = 4096
JSON = [("Content-Type", "application/json")]


class Score:
    """Deliveries seen: a JSON body with "seq" is counted per seq (lost and duplicated
    webhooks show); one with "sentAt" (unix ms) adds a receipt-to-delivery latency."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._zero()

    def _zero(self) -> None:
        self.count, self.first_ms, self.last_ms, self.duplicates = 0, 0.0, 0.0, 0
        self.seen: dict[object, int] = {}
        self.latencies: list[float] = []

    def answer(self, rec: Received) -> Reply | None:
        """The answer to a /__bench/* request; else None, after counting a delivery (health
        probes are not deliveries)."""
        if rec.path.startswith(CONTROL_PREFIX):
            with self._lock:
                return Reply(headers=JSON, body=self._control(rec.path))
        if not rec.path.startswith("/healthz"):
            with self._lock:
                self._note(rec.body)
        return None

    def _control(self, path: str) -> bytes:
        if path == "/__bench/reset":
            self._zero()
        if path == "/__bench/seen":
            return json.dumps({"seen": list(self.seen)}).encode()
        if path == "/__bench/latencies":
            return json.dumps({"latencies": self.latencies}).encode()
        return json.dumps(self._stats()).encode()

    def _note(self, body: bytes) -> None:
        now = time.perf_counter() * 1000
        self.first_ms = self.first_ms or now
        self.count, self.last_ms = self.count + 1, now
        try:
            small = body[:1] == b"{" and len(body) <= MAX_SCORED_BODY
            parsed = json.loads(body) if small else {}
        except ValueError:
            return
        if "seq" in parsed:
            self.seen[parsed["seq"]] = self.seen.get(parsed["seq"], 0) + 1
            self.duplicates += self.seen[parsed["seq"]] > 1
        if isinstance(parsed.get("sentAt"), int | float):
            self.latencies.append(time.time() * 1000 - parsed["sentAt"])

    def _stats(self) -> dict:
        """The /__bench/stats answer."""
        return {
            "count": self.count,
            "firstMs": self.first_ms,
            "lastMs": self.last_ms,
            "distinct": len(self.seen),
            "duplicates": self.duplicates,
        }
