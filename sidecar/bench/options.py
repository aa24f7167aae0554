"""What a benchmark run is asked to do: scenarios and their sizes."""

from __future__ import annotations

from dataclasses import dataclass, replace

SCENARIOS = (
    "passthrough",
    "ingest",
    "deliver",
    "e2e",
    "memory",
    "switch",
    "day",
    "n8n-outage",
    "n8n-capacity",
    "backpressure",
)
# The faults scenario's faults, in the order they run (sidecar/bench/faults/).
FAULTS = (
    "worker_kill",
    "redis_crash",
    "redis_down",
    "gateway_sigterm",
    "n8n_down",
    "sentinel_failover",
)
# Issue 13's crowds: a thousand connections each, about a minute each (hey is installed
# with apt-get when missing).
CROWD_SCENARIOS = ("slow-n8n", "slow-senders")
# Run only when asked for (-s): minutes long, processes killed on purpose, or crowds.
EXTRA_SCENARIOS = ("faults", "durable", *CROWD_SCENARIOS)
CHOICES = SCENARIOS + EXTRA_SCENARIOS


@dataclass(frozen=True)
class Options:
    """Sizes of every scenario; `smoke()` shrinks them to seconds."""

    scenarios: tuple[str, ...] = SCENARIOS
    requests: int = 4000  # passthrough: requests per side
    jobs: int = 5000  # ingest, deliver, memory
    senders: int = 8  # concurrent keep-alive connections
    workers: int = 2  # worker processes per side
    concurrency: int = 10  # deliveries in flight per n8n-sidecar worker
    rate: float = 200.0  # e2e: webhooks per second, steady
    duration: float = 10.0  # e2e and switch: seconds of steady load
    timeout: float = 300.0  # seconds per phase, at most
    day_seconds: float = 120.0  # day: wall seconds the simulated 24 h are spread over
    crowd: int = 1000  # slow-n8n: concurrent senders; slow-senders: trickling connections
    crowd_seconds: float = 15.0  # slow-n8n: seconds of load per side; slow-senders: trickle
    smoke: bool = False
    faults: tuple[str, ...] = ()  # faults scenario: only these (default: all)

    def smoke_sized(self) -> Options:
        """Tiny counts: every code path in seconds (what the test suite runs)."""
        return replace(
            self,
            requests=60,
            jobs=50,
            senders=min(self.senders, 4),
            rate=50.0,
            duration=1.0,
            timeout=min(self.timeout, 60.0),
            day_seconds=0.0,  # as fast as it goes
            crowd=min(self.crowd, 20),
            crowd_seconds=min(self.crowd_seconds, 2.0),
            smoke=True,
        )
