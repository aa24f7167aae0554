#!/usr/bin/env python3
"""Passthrough overhead: the same requests straight to an upstream and through the sidecar.

Starts on 127.0.0.1 a fast stand-in for n8n (a separate process) and the sidecar gateway
(`n8n-sidecar serve`, single mode), then sends interleaved rounds of keep-alive POSTs to
both, so machine noise hits both sides alike. Prints median / p99 latency and requests/s
for each side and the difference; `--json FILE` writes them too.

    .venv/bin/python scripts/bench_passthrough.py --requests 3000 --concurrency 8
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = json.dumps({"update_id": 1, "message": {"text": "hello", "from": {"id": 42}}}).encode()


class FastUpstream(BaseHTTPRequestHandler):
    """Answers every request 200 with a small JSON body, HTTP/1.1 keep-alive."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        answer = b'{"message":"Workflow was started"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self) -> None:
        self.do_POST()

    def log_message(self, *args: object) -> None:
        """Quiet."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(port: int, timeout: float = 20.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def start_processes(upstream_port: int, sidecar_port: int) -> list[subprocess.Popen]:
    """Start the stand-in upstream and the sidecar; return both processes."""
    upstream = subprocess.Popen([sys.executable, __file__, "--serve-upstream", str(upstream_port)])
    env = dict(
        os.environ,
        N8N_URL=f"http://127.0.0.1:{upstream_port}",
        SIDECAR_PORT=str(sidecar_port),
        SIDECAR_MODE="single",
        SIDECAR_LOG_LEVEL="WARNING",
    )
    sidecar = subprocess.Popen([sys.executable, "-m", "sidecar", "serve"], env=env)
    wait_until_listening(upstream_port)
    wait_until_listening(sidecar_port)
    return [upstream, sidecar]


def timed_posts(port: int, count: int) -> list[float]:
    """Send `count` keep-alive POSTs on one connection; return each latency in seconds."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies = []
    headers = {"Content-Type": "application/json", "X-User-Id": "42"}
    for _ in range(count):
        started = time.perf_counter()
        conn.request("POST", "/webhook/bench?source=telegram", body=BODY, headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            raise SystemExit(f"unexpected status {response.status} from port {port}")
    conn.close()
    return latencies


def run_side(port: int, total: int, concurrency: int) -> tuple[list[float], float]:
    """Run `total` requests over `concurrency` connections; (latencies, requests/s)."""
    per_worker = max(1, total // concurrency)
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        parts = list(pool.map(lambda _: timed_posts(port, per_worker), range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies = [x for part in parts for x in part]
    return latencies, len(latencies) / elapsed


def summarize(latencies: list[float], rate: float) -> dict[str, float]:
    """Median and p99 in ms, and the rate."""
    ordered = sorted(latencies)
    return {
        "median_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "requests_per_s": rate,
        "requests": len(ordered),
    }


def measure(direct_port: int, sidecar_port: int, args: argparse.Namespace) -> dict:
    """Interleave rounds direct / sidecar and pool each side's samples."""
    sides: dict[str, tuple[list[float], list[float]]] = {"direct": ([], []), "sidecar": ([], [])}
    per_round = max(args.concurrency, args.requests // args.rounds)
    run_side(direct_port, args.concurrency * 20, args.concurrency)  # warm-up
    run_side(sidecar_port, args.concurrency * 20, args.concurrency)
    for _ in range(args.rounds):
        for name, port in (("direct", direct_port), ("sidecar", sidecar_port)):
            latencies, rate = run_side(port, per_round, args.concurrency)
            sides[name][0].extend(latencies)
            sides[name][1].append(rate)
    result = {
        name: summarize(lat, statistics.median(rates)) for name, (lat, rates) in sides.items()
    }
    result["added"] = {
        "median_ms": result["sidecar"]["median_ms"] - result["direct"]["median_ms"],
        "p99_ms": result["sidecar"]["p99_ms"] - result["direct"]["p99_ms"],
        "throughput_ratio": result["sidecar"]["requests_per_s"]
        / result["direct"]["requests_per_s"],
    }
    return result


def print_table(result: dict, args: argparse.Namespace) -> None:
    """Human-readable table of both sides and the difference."""
    print(
        f"\npassthrough, {args.requests} requests per side, concurrency {args.concurrency}, "
        f"{args.rounds} interleaved rounds, {os.cpu_count()} cores"
    )
    print(f"{'':10}{'median ms':>12}{'p99 ms':>10}{'req/s':>10}")
    for name in ("direct", "sidecar"):
        row = result[name]
        print(
            f"{name:10}{row['median_ms']:12.3f}{row['p99_ms']:10.3f}{row['requests_per_s']:10.0f}"
        )
    added = result["added"]
    print(
        f"{'added':10}{added['median_ms']:12.3f}{added['p99_ms']:10.3f}"
        f"{added['throughput_ratio']:9.2f}x"
    )


def main() -> None:
    """Parse options, run the comparison, print (and optionally save) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per side")
    parser.add_argument("--concurrency", type=int, default=1, help="parallel connections per side")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--smoke", action="store_true", help="tiny counts: check it runs")
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.rounds = 100, 2
    if args.serve_upstream:
        ThreadingHTTPServer(("127.0.0.1", args.serve_upstream), FastUpstream).serve_forever()
        return
    upstream_port, sidecar_port = free_port(), free_port()
    processes = start_processes(upstream_port, sidecar_port)
    try:
        result = measure(upstream_port, sidecar_port, args)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
    print_table(result, args)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {"scenario": "passthrough", "options": vars(args), **result}, handle, indent=2
            )


if __name__ == "__main__":
    threading.excepthook = lambda hook_args: None
    main()
