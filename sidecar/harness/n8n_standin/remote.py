"""The benchmark's n8n stand-in in a process of its own, and a client of its score."""

from __future__ import annotations

import http.client
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from sidecar.harness.errors import HarnessError
from sidecar.harness.n8n_standin.messages import Reply
from sidecar.harness.ports import free_port
from sidecar.harness.processes import Processes
from sidecar.harness.waiting import listening

NODE_SCRIPT = Path(__file__).with_name("upstream.js")
WORKFLOW_STARTED = Reply(
    headers=[("Content-Type", "application/json")], body=b'{"message":"Workflow was started"}'
)


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
            raise HarnessError(f"the {scenario} scenario needs node for its n8n stand-in")

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
        argv = [sys.executable, "-m", "sidecar.harness.n8n_standin", str(port)]
        kind = "python (node not found: the upstream may be the bottleneck)"
    proc = procs.start("upstream", argv)
    procs.wait_ready(proc, listening(port), "upstream")
    return Upstream(port, kind)
