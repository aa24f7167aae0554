"""Shared pytest fixtures."""

import time
from collections.abc import Iterator

import pytest
import redis
import requests
from redis.backoff import NoBackoff
from redis.retry import Retry
from support.abuse import TALLY
from support.raw_http import resetting_server as _resetting_server

from sidecar.harness.n8n_standin import FakeN8n
from sidecar.harness.ports import free_port
from sidecar.harness.redis_server import RedisServer
from sidecar.harness.sidecar_processes import Gateway, Worker

# --- real services ---
# A real redis-server subprocess and a real HTTP fake of n8n, each on a free port of
# 127.0.0.1, shared by the whole session. Tests use `redis_url` (an empty, running redis)
# and `n8n` (a running fake with no scripts and no recorded requests).


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the session (never the system one on 6379)."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def dead_redis() -> Iterator[redis.Redis]:
    """A client of a port where nothing listens: every command fails at once."""
    client = redis.Redis(
        port=free_port(),
        socket_connect_timeout=0.2,
        socket_timeout=0.2,
        retry=Retry(NoBackoff(), 0),
    )
    yield client
    client.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session redis, restarted if a test killed it, then FLUSHALLed."""
    if not redis_server.alive:
        redis_server.restart()
    with redis_server.client() as client:
        client.flushall()
    return redis_server.url


@pytest.fixture(scope="session")
def fake_n8n() -> Iterator[FakeN8n]:
    """One fake n8n server for the session."""
    with FakeN8n() as server:
        yield server


@pytest.fixture
def resetting_server() -> Iterator[str]:
    """An upstream that resets each connection before reading the request (its URL)."""
    with _resetting_server() as url:
        yield url


@pytest.fixture
def n8n(fake_n8n: FakeN8n) -> FakeN8n:
    """The session fake n8n, started, with scripts and recorded requests cleared."""
    fake_n8n.reset()
    return fake_n8n.start()


# --- queue mode ---
# Sidecar processes started by a test are killed when it ends, whatever happened. Queue-mode
# settings are shrunk (locks, sweeps, backoff) so that recovery paths run in about a second.

FAST_QUEUE_SETTINGS = {
    "SIDECAR_MODE": "queue",
    "SIDECAR_LOCK_SECONDS": 1,
    "SIDECAR_STALLED_INTERVAL_SECONDS": 0.5,
    "SIDECAR_JOB_BACKOFF_SECONDS": 0.05,
    "SIDECAR_UPSTREAM_TIMEOUT_SECONDS": 30,
    "SIDECAR_MONITOR_INTERVAL_SECONDS": 3600,  # no mode-monitor rounds during a test
    # One gateway process: these tests read the mode a gateway follows from whichever process
    # answers. The default (`auto`: a process per core with Redis) runs in the tests that
    # start gateways without these settings, and in test_gateway_processes.py.
    "SIDECAR_GATEWAY_WORKERS": 1,
}


class Processes:
    """Starts gateways and workers for one test and kills the survivors afterwards."""

    def __init__(self) -> None:
        self.gateways: list[Gateway] = []
        self.workers: list[Worker] = []

    def gateway(self, **settings: object) -> Gateway:
        """A running `n8n-sidecar serve` with `settings`."""
        gateway = Gateway(**settings)
        self.gateways.append(gateway)
        return gateway

    def worker(self, *args: str, **settings: object) -> Worker:
        """A started `n8n-sidecar worker ARGS…` with `settings`."""
        worker = Worker(*args, **settings)
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        """Kill whatever is still running."""
        for worker in self.workers:
            worker.close()
        for gateway in self.gateways:
            gateway.close()


@pytest.fixture
def procs() -> Iterator[Processes]:
    """Start sidecar processes with `procs.gateway(**env)` / `procs.worker(*args, **env)`."""
    started = Processes()
    yield started
    started.close()


@pytest.fixture
def queue_env(redis_url: str, n8n: FakeN8n) -> dict[str, object]:
    """Settings for queue-mode processes against the (flushed) session redis and fake n8n."""
    return {"REDIS_URL": redis_url, "N8N_URL": n8n.url, **FAST_QUEUE_SETTINGS}


@pytest.fixture
def rdb(redis_url: str) -> Iterator[redis.Redis]:
    """A client of the (flushed) session redis."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def queue_gateway_process(
    redis_server: RedisServer, fake_n8n: FakeN8n
) -> Iterator[tuple[Gateway, dict[bytes, bytes]]]:
    """One `n8n-sidecar serve` in queue mode per test module, and what it stored in Redis
    when it started (e.g. SIDECAR_MODE applied to the shared mode). Per module, not per
    session: a gateway left running would probe the shared fake n8n during other modules."""
    if not redis_server.alive:
        redis_server.restart()
    with redis_server.client() as client:
        client.flushall()
        gateway = Gateway(REDIS_URL=redis_server.url, N8N_URL=fake_n8n.url, **FAST_QUEUE_SETTINGS)
        startup = {
            key: client.dump(key) for key in client.keys("*") if client.pttl(key) == -1
        }  # keys with a TTL (locks, windows) are transient: not part of the start-up state
    yield gateway, startup
    gateway.stop()


@pytest.fixture
def queue_gateway(
    queue_gateway_process: tuple[Gateway, dict[bytes, bytes]], redis_url: str
) -> Gateway:
    """The session's queue-mode gateway, with Redis flushed back to its start-up state and
    the gateway following queue mode again (it may have cached another mode meanwhile)."""
    gateway, startup = queue_gateway_process
    with redis.Redis.from_url(redis_url) as client:
        for key, value in startup.items():
            client.restore(key, 0, value, replace=True)
    wait_for_mode(gateway, "queue")
    return gateway


def wait_for_mode(gateway: Gateway, mode: str, timeout: float = 5.0) -> None:
    """Wait until the gateway reports `mode` on /readyz."""
    deadline = time.monotonic() + timeout
    while True:
        seen = requests.get(f"{gateway.url}/readyz", timeout=5).json().get("mode")
        if seen == mode:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"gateway stays in {seen!r} mode, wanted {mode!r}")
        time.sleep(0.05)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """After a run that included abuse suites: how many cases each one sent."""
    if TALLY:
        terminalreporter.section("abuse suites: cases sent")
        for label, count in sorted(TALLY.items()):
            terminalreporter.write_line(f"{count:7d}  {label}")


@pytest.fixture
def server_factory() -> Iterator:
    """Start redis-servers with extra arguments (`server_factory("--appendonly", "yes")`),
    each on a free port in a temp dir; all removed after the test."""
    started: list[RedisServer] = []

    def start(*args: str) -> RedisServer:
        server = RedisServer(extra_args=args).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.cleanup()
