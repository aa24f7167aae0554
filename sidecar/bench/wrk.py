"""wrk, the C load generator, driven by the benchmark: one bounded run against a port of
127.0.0.1 with `lua/webhooks.lua` (unique bodies, or the same one), its summary parsed."""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from sidecar.bench.context import Bench
from sidecar.bench.errors import BenchError
from sidecar.bench.load import WEBHOOK_PATH
from sidecar.bench.report import Row

SCRIPT = Path(__file__).with_name("lua") / "webhooks.lua"
MARK = "WRK_JSON "
GRACE_SECONDS = 30.0


@dataclass(frozen=True)
class WrkLoad:
    """What to run: connections (over `threads` threads) for `seconds` (whole, ≥ 1);
    `unique` bodies (every one new) or the same body again and again."""

    connections: int
    seconds: int
    unique: bool
    threads: int = 2

    def argv(self, wrk: Path, port: int) -> list[str]:
        """The command line against 127.0.0.1:`port`."""
        threads = max(1, min(self.threads, self.connections))
        script_args = ["unique", uuid.uuid4().hex] if self.unique else ["same"]
        return [
            str(wrk),
            f"-t{threads}",
            f"-c{self.connections}",
            f"-d{max(1, self.seconds)}s",
            "-s",
            str(SCRIPT),
            f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
            "--",
            *script_args,
        ]


@dataclass(frozen=True)
class WrkRun:
    """A run's summary: answers, rate, latencies (ms), and socket errors and non-2xx/3xx."""

    requests: int
    seconds: float
    rate_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    non2xx: int

    def figures(self) -> dict:
        """The summary as a dict for the JSON."""
        return asdict(self)


def parse_summary(output: str) -> WrkRun:
    """The WrkRun of the script's summary line in wrk's `output`; BenchError without one."""
    line = next((ln for ln in output.splitlines() if ln.startswith(MARK)), None)
    if line is None:
        raise BenchError(f"wrk printed no summary: {output.strip()[-300:]!r}")
    raw = json.loads(line[len(MARK) :])
    seconds = raw["duration_us"] / 1e6
    errors = sum(raw[key] for key in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return WrkRun(
        requests=raw["requests"],
        seconds=seconds,
        rate_per_s=raw["requests"] / seconds if seconds else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        errors=errors,
        non2xx=raw["non2xx"],
    )


def run_wrk(wrk: Path, port: int, load: WrkLoad) -> WrkRun:
    """One wrk run against 127.0.0.1:`port`; BenchError when it fails or gets errors."""
    try:
        done = subprocess.run(
            load.argv(wrk, port),
            capture_output=True,
            text=True,
            timeout=load.seconds + GRACE_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish within {load.seconds + GRACE_SECONDS:g} s") from None
    if done.returncode != 0:
        raise BenchError(f"wrk failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    run = parse_summary(done.stdout)
    if run.non2xx or run.errors:
        raise BenchError(
            f"wrk against port {port}: {run.non2xx} answers 4xx/5xx and {run.errors} socket "
            f"errors in {run.requests} requests"
        )
    return run


def load_generator_rows(bench: Bench) -> list[Row]:
    """A row saying why the Python senders stood in for wrk; none when wrk ran."""
    found = bench.tool("wrk")
    return [] if found.path else [Row("load generator", "Python senders", found.note)]
