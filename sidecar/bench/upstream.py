"""The stand-in for n8n: node's upstream.js when node is installed, else this Python server
(`python -m sidecar.bench.upstream PORT`, slower: it may limit delivery rates). Both answer
200 to everything and keep the same score (see upstream.js); `Upstream` reads it."""

from __future__ import annotations

import http.client
import json
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

from sidecar.bench.procs import BenchError, Processes, free_port, listening, wait_until

NODE_SCRIPT = Path(__file__).with_name("upstream.js")
ANSWER = b'{"message":"Workflow was started"}'


class Score:
    """What the Python upstream saw, as upstream.js keeps it."""

    def __init__(self) -> None:
        self.count, self.first_ms, self.last_ms, self.duplicates = 0, 0.0, 0.0, 0
        self.seen: dict[object, int] = {}
        self.latencies: list[float] = []

    def note(self, body: bytes) -> None:
        """Count one delivery of `body`."""
        now = time.perf_counter() * 1000
        self.first_ms = self.first_ms or now
        self.count, self.last_ms = self.count + 1, now
        try:
            parsed = json.loads(body) if body[:1] == b"{" and len(body) <= 4096 else {}
        except ValueError:
            return
        if "seq" in parsed:
            self.seen[parsed["seq"]] = self.seen.get(parsed["seq"], 0) + 1
            self.duplicates += self.seen[parsed["seq"]] > 1
        if isinstance(parsed.get("sentAt"), int | float):
            self.latencies.append(time.time() * 1000 - parsed["sentAt"])

    def stats(self) -> dict:
        """The /__bench/stats answer."""
        return {
            "count": self.count,
            "firstMs": self.first_ms,
            "lastMs": self.last_ms,
            "distinct": len(self.seen),
            "duplicates": self.duplicates,
        }


class PythonUpstream(BaseHTTPRequestHandler):
    """200 to every request, keep-alive; /__bench/* reads or resets the score."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    lock: ClassVar[threading.Lock] = threading.Lock()
    score: ClassVar[Score] = Score()

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.lock:
            answer = self._control() if self.path.startswith("/__bench/") else None
            if answer is None and not self.path.startswith("/healthz"):  # probes: not counted
                self.score.note(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer or ANSWER)))
        self.end_headers()
        self.wfile.write(answer or ANSWER)

    def _control(self) -> bytes:
        if self.path == "/__bench/reset":
            PythonUpstream.score = Score()
        if self.path == "/__bench/seen":
            return json.dumps({"seen": list(self.score.seen)}).encode()
        if self.path == "/__bench/latencies":
            return json.dumps({"latencies": self.score.latencies}).encode()
        return json.dumps(self.score.stats()).encode()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        """Quiet."""


@dataclass
class Upstream:
    """The running stand-in for n8n: its port, what it runs on, and its score."""

    port: int
    kind: str

    @property
    def url(self) -> str:
        """Base URL, as N8N_URL."""
        return f"http://127.0.0.1:{self.port}"

    def _call(self, method: str, path: str) -> dict:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path)
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def stats(self) -> dict:
        """{"count", "firstMs", "lastMs", "distinct", "duplicates"} since the last reset."""
        return self._call("GET", "/__bench/stats")

    def latencies_ms(self) -> list[float]:
        """Receipt-to-delivery latencies (ms) of deliveries that carried sentAt."""
        return self._call("GET", "/__bench/latencies")["latencies"]

    def reset(self) -> None:
        """Zero the score."""
        self._call("POST", "/__bench/reset")

    def seen(self) -> set[int]:
        """Every distinct seq delivered since the last reset."""
        return set(self._call("GET", "/__bench/seen")["seen"])

    def require_node(self, scenario: str) -> None:
        """Capacity and outages are played by upstream.js only."""
        if self.kind != "node":
            raise BenchError(f"the {scenario} scenario needs node for its n8n stand-in")

    def set_capacity(self, k: int, base_ms: float, max_in_flight: int = 0) -> None:
        """Answer times grow with the requests in flight beyond `k` (k=0: instant again)."""
        self._call("POST", f"/__bench/capacity?k={k}&base={base_ms}&max={max_in_flight}")

    def answers(self) -> dict:
        """{"answers": [ms], "inflight": [n at each arrival], "status5xx"} since the reset."""
        return self._call("GET", "/__bench/answers")

    def go_down(self, seconds: float) -> None:
        """Refuse connections (and cut open ones) for `seconds`, then listen again."""
        self._call("POST", f"/__bench/down?ms={round(seconds * 1000)}")


def start_upstream(procs: Processes) -> Upstream:
    """The node stand-in for n8n, or the Python one when node is not installed."""
    port = free_port()
    node = shutil.which("node")
    if node:
        argv, kind = [node, str(NODE_SCRIPT), str(port)], "node"
    else:
        argv = [sys.executable, "-m", "sidecar.bench.upstream", str(port)]
        kind = "python (node not found: the upstream may be the bottleneck)"
    proc = procs.start("upstream", argv)
    wait_until(listening(port), "upstream", procs, proc)
    return Upstream(port, kind)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), PythonUpstream).serve_forever()
