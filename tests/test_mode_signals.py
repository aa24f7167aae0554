"""Signal sources: rate and p95 shared through a real Redis, cgroup files, n8n's answers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
import responses

from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.errors import BackendUnavailable
from sidecar.mode.latency import LatencyReservoir, percentile
from sidecar.mode.memory import cgroup_memory_percent, host_memory_percent
from sidecar.mode.n8n import (
    N8nSourceError,
    eventloop_lag_seconds,
    execution_durations,
    resident_memory_bytes,
)
from sidecar.mode.rate import RateCounter
from sidecar.mode.signals import SignalSampler, shared_eventloop_lag
from sidecar.mode.sources import ANSWER_TIME, HOST, N8N_API, N8N_METRICS, signal_sources
from sidecar.settings import load_settings

GIB = 1024**3
N8N = "http://n8n.test:5678"


class FakeClock:
    """A settable clock."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- webhook rate ---


def test_the_rate_is_shared_by_every_process(rdb: redis.Redis) -> None:
    clock = FakeClock()
    gateway_a, gateway_b = RateCounter(clock), RateCounter(clock)
    for _ in range(30):
        gateway_a.record()
    gateway_b.record(20)
    gateway_a.flush(rdb, DEFAULT_KEYS)
    gateway_b.flush(rdb, DEFAULT_KEYS)
    gateway_b.record(5)  # not flushed yet: only gateway b knows

    assert gateway_a.per_hour(rdb, DEFAULT_KEYS) == 50
    assert gateway_b.per_hour(rdb, DEFAULT_KEYS) == 55
    minute = int(clock.now // 60)
    assert int(rdb.get(gateway_a.bucket_key(DEFAULT_KEYS, minute))) == 50
    assert 0 < rdb.ttl(gateway_a.bucket_key(DEFAULT_KEYS, minute)) <= 2 * 3600


def test_the_rate_counts_the_last_sixty_minutes_only(rdb: redis.Redis) -> None:
    clock = FakeClock(60 * 30_000_000.0)
    counter = RateCounter(clock)
    for _ in range(90):  # one webhook a minute for an hour and a half
        counter.record()
        counter.flush(rdb, DEFAULT_KEYS)
        clock.now += 60
    clock.now -= 60

    assert counter.per_hour(rdb, DEFAULT_KEYS) == 60
    clock.now += 3600
    assert counter.per_hour(rdb, DEFAULT_KEYS) == 0


def test_a_short_window_is_scaled_to_an_hour(rdb: redis.Redis) -> None:
    clock = FakeClock(1_000_000.0)
    counter = RateCounter(clock, window_seconds=6)  # 60 buckets of 0.1 s
    counter.record(10)
    counter.flush(rdb, DEFAULT_KEYS)
    assert counter.per_hour(rdb, DEFAULT_KEYS) == 10 * 3600 / 6
    clock.now += 6.1  # the window moved past those webhooks
    assert counter.per_hour(rdb, DEFAULT_KEYS) == 0


def test_without_redis_the_rate_is_this_process_alone() -> None:
    clock = FakeClock()
    counter = RateCounter(clock)
    counter.record(7)
    counter.flush(None, DEFAULT_KEYS)
    counter.record(3)

    assert counter.per_hour(None, DEFAULT_KEYS) == 10
    clock.now += 3600
    assert counter.per_hour(None, DEFAULT_KEYS) == 0


def test_counts_that_could_not_be_flushed_are_kept(
    rdb: redis.Redis, dead_redis: redis.Redis
) -> None:
    counter = RateCounter(FakeClock())
    counter.record(12)

    with pytest.raises(BackendUnavailable):
        counter.flush(dead_redis, DEFAULT_KEYS)
    counter.flush(rdb, DEFAULT_KEYS)

    assert RateCounter(FakeClock()).per_hour(rdb, DEFAULT_KEYS) == 12


def test_recording_is_thread_safe() -> None:
    # Its cost per call is the bench's business (docs/testing.md: no timing in tests).
    counter = RateCounter()

    def hammer() -> None:
        for _ in range(20_000):
            counter.record()

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert counter.per_hour(None, DEFAULT_KEYS) == 160_000


# --- answer-time p95 ---


def test_percentile_is_nearest_rank() -> None:
    assert percentile([]) is None
    assert percentile([4.0]) == 4.0
    assert percentile(float(n) for n in range(1, 101)) == 95.0
    assert percentile([1.0] * 19 + [60.0]) == 1.0
    assert percentile([1.0] * 18 + [60.0, 61.0]) == 60.0


def test_the_p95_is_shared_by_gateways_and_workers(rdb: redis.Redis) -> None:
    clock = FakeClock()
    gateway, worker = LatencyReservoir(clock), LatencyReservoir(clock)
    for n in range(1, 51):
        gateway.record(float(n))
        worker.record(float(n + 50))
    gateway.flush(rdb, DEFAULT_KEYS)
    worker.flush(rdb, DEFAULT_KEYS)

    assert gateway.p95(rdb, DEFAULT_KEYS) == 95.0
    assert LatencyReservoir(clock).p95(rdb, DEFAULT_KEYS) == 95.0
    assert rdb.zcard(DEFAULT_KEYS.latency) == 100


def test_the_p95_forgets_samples_older_than_the_window(rdb: redis.Redis) -> None:
    clock = FakeClock()
    reservoir = LatencyReservoir(clock, window_seconds=60)
    reservoir.record(45.0)
    reservoir.flush(rdb, DEFAULT_KEYS)
    clock.now += 30
    reservoir.record(1.0)
    reservoir.flush(rdb, DEFAULT_KEYS)

    assert reservoir.p95(rdb, DEFAULT_KEYS) == 45.0
    clock.now += 31
    assert reservoir.p95(rdb, DEFAULT_KEYS) == 1.0
    clock.now += 30
    assert reservoir.p95(rdb, DEFAULT_KEYS) is None
    reservoir.flush(rdb, DEFAULT_KEYS)
    assert rdb.zcard(DEFAULT_KEYS.latency) == 0


def test_the_shared_samples_are_capped(rdb: redis.Redis) -> None:
    reservoir = LatencyReservoir(FakeClock(), cap=100)
    for round_ in range(3):
        for _ in range(80):
            reservoir.record(1.0 + round_)
        reservoir.flush(rdb, DEFAULT_KEYS)

    assert rdb.zcard(DEFAULT_KEYS.latency) == 100


def test_without_redis_the_p95_is_local() -> None:
    reservoir = LatencyReservoir(FakeClock())
    for n in range(1, 21):
        reservoir.record(float(n))
    reservoir.flush(None, DEFAULT_KEYS)
    reservoir.record(100.0)

    assert reservoir.p95(None, DEFAULT_KEYS) == 20.0


# --- memory ---


def write_files(root: Path, files: dict[str, str]) -> Path:
    """Create the fake cgroup files under `root`."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_cgroup_v2_limit_minus_reclaimable_cache(tmp_path: Path) -> None:
    root = write_files(
        tmp_path,
        {
            "memory.max": f"{2 * GIB}\n",
            "memory.current": f"{GIB + 512 * 1024**2}\n",
            "memory.stat": f"anon 123\ninactive_file {512 * 1024**2}\nactive_file 9\n",
        },
    )

    assert cgroup_memory_percent(root, machine_bytes=16 * GIB) == pytest.approx(50.0)
    assert host_memory_percent(root) == pytest.approx(50.0)


def test_cgroup_v1_files(tmp_path: Path) -> None:
    root = write_files(
        tmp_path,
        {
            "memory/memory.limit_in_bytes": f"{GIB}\n",
            "memory/memory.usage_in_bytes": f"{900 * 1024**2}\n",
            "memory/memory.stat": f"cache 5\ntotal_inactive_file {100 * 1024**2}\n",
        },
    )

    assert cgroup_memory_percent(root, machine_bytes=16 * GIB) == pytest.approx(78.125)


@pytest.mark.parametrize(
    "files",
    [
        {"memory.max": "max\n", "memory.current": "1000\n"},
        {"memory/memory.limit_in_bytes": "9223372036854771712\n"}
        | {"memory/memory.usage_in_bytes": "1000\n"},
        {"memory.max": f"{64 * GIB}\n", "memory.current": "1000\n"},  # above the machine
        {},
    ],
    ids=["v2-unlimited", "v1-unlimited", "limit-above-machine", "no-cgroup"],
)
def test_no_binding_limit_falls_back_to_the_machine(tmp_path: Path, files: dict) -> None:
    root = write_files(tmp_path, files)

    assert cgroup_memory_percent(root, machine_bytes=16 * GIB) is None
    assert 0 < host_memory_percent(root) <= 100


# --- n8n ---

METRICS_TEXT = """\
# HELP n8n_process_cpu_user_seconds_total Total user CPU time spent in seconds.
# TYPE n8n_process_cpu_user_seconds_total counter
n8n_process_cpu_user_seconds_total 12.5
# HELP n8n_process_resident_memory_bytes Resident memory size in bytes.
# TYPE n8n_process_resident_memory_bytes gauge
n8n_process_resident_memory_bytes 536870912
# HELP n8n_nodejs_eventloop_lag_p50_seconds The 50th percentile of the recorded event loop delays.
n8n_nodejs_eventloop_lag_p50_seconds 0.010223615
# HELP n8n_nodejs_eventloop_lag_p99_seconds The 99th percentile of the recorded event loop delays.
# TYPE n8n_nodejs_eventloop_lag_p99_seconds gauge
n8n_nodejs_eventloop_lag_p99_seconds 0.715128831
n8n_version_info{version="v1.89.2",major="1"} 1
"""


def test_resident_memory_is_read_from_n8n_metrics_text() -> None:
    assert resident_memory_bytes(METRICS_TEXT) == 536870912
    assert resident_memory_bytes("process_resident_memory_bytes 42\n") == 42
    assert resident_memory_bytes('custom_process_resident_memory_bytes{pid="1"} 7 1700\n') == 7
    with pytest.raises(N8nSourceError, match="N8N_METRICS"):
        resident_memory_bytes("# nothing\nn8n_version_info 1\n")


@responses.activate
def test_memory_source_n8n_uses_the_memory_budget() -> None:
    responses.get(f"{N8N}/metrics", body=METRICS_TEXT)
    settings = load_settings(
        N8N_URL=N8N, SIDECAR_MEMORY_SOURCE="n8n", SIDECAR_N8N_MEMORY_LIMIT_BYTES=2 * GIB
    )

    assert SignalSampler(settings, None).sample().memory_percent == pytest.approx(25.0)


def executions_body(clock: FakeClock) -> dict:
    """An /api/v1/executions answer: two finished, one running, one old."""

    def at(seconds_ago: float) -> str:
        moment = datetime.fromtimestamp(clock.now - seconds_ago, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    return {
        "data": [
            {"id": "4", "status": "running", "startedAt": at(5), "stoppedAt": None},
            {"id": "3", "status": "success", "startedAt": at(50), "stoppedAt": at(10)},
            {"id": "2", "status": "error", "startedAt": at(30), "stoppedAt": at(28)},
            {"id": "1", "status": "success", "startedAt": at(7200), "stoppedAt": at(7000)},
        ],
        "nextCursor": None,
    }


def test_execution_durations_of_finished_executions_in_the_window() -> None:
    clock = FakeClock()
    body = executions_body(clock)

    assert execution_durations(body) == pytest.approx([40.0, 2.0, 200.0])
    assert execution_durations(body, since=clock.now - 600) == pytest.approx([40.0, 2.0])
    with pytest.raises(N8nSourceError):
        execution_durations({"message": "unauthorized"})


@responses.activate
def test_the_exec_signal_takes_n8ns_own_durations_when_an_api_key_is_set() -> None:
    clock = FakeClock()
    call = responses.get(f"{N8N}/api/v1/executions", json=executions_body(clock))
    settings = load_settings(N8N_URL=N8N, SIDECAR_N8N_API_KEY="secret-key")
    latency = LatencyReservoir(clock, window_seconds=600)
    latency.record(0.05)  # "respond immediately": the sender saw a fast answer

    sampler = SignalSampler(settings, None, latency=latency, rate=RateCounter(clock), clock=clock)

    assert sampler.sample().exec_p95_seconds == pytest.approx(40.0)
    request = call.calls[0].request
    assert request.headers["X-N8N-API-KEY"] == "secret-key"
    assert "limit=100" in request.url


@responses.activate
def test_a_failing_n8n_api_falls_back_to_the_answer_times() -> None:
    responses.get(f"{N8N}/api/v1/executions", status=401, json={"message": "unauthorized"})
    settings = load_settings(N8N_URL=N8N, SIDECAR_N8N_API_KEY="wrong")
    latency = LatencyReservoir(FakeClock())
    latency.record(3.0)
    sampler = SignalSampler(settings, None, latency=latency)

    assert sampler.sample().exec_p95_seconds == 3.0
    assert "401" in sampler.errors()["n8n_executions"]


def test_a_failing_source_gives_none_and_recovers(
    rdb: redis.Redis, dead_redis: redis.Redis
) -> None:
    settings = load_settings(N8N_URL=N8N)
    sampler = SignalSampler(settings, dead_redis, rate=RateCounter(), latency=LatencyReservoir())

    blind = sampler.sample()
    assert blind.webhooks_per_hour is None and blind.exec_p95_seconds is None
    assert blind.memory_percent is not None
    assert set(sampler.errors()) == {"webhooks_per_hour", "exec_p95_seconds"}

    sampler.client = rdb
    seeing = sampler.sample()
    assert seeing.webhooks_per_hour == 0 and seeing.exec_p95_seconds is None
    assert sampler.errors() == {}


def test_the_eventloop_lag_is_n8ns_p99_from_its_metrics() -> None:
    assert eventloop_lag_seconds(METRICS_TEXT) == pytest.approx(0.715128831)
    assert eventloop_lag_seconds("nodejs_eventloop_lag_p99_seconds 0.2\n") == 0.2
    with pytest.raises(N8nSourceError, match="N8N_METRICS"):
        eventloop_lag_seconds("n8n_nodejs_eventloop_lag_p50_seconds 0.1\n")


@responses.activate
def test_memory_and_lag_share_one_scrape_of_n8n_metrics_per_sample() -> None:
    call = responses.get(f"{N8N}/metrics", body=METRICS_TEXT)
    settings = load_settings(
        N8N_URL=N8N, SIDECAR_MEMORY_SOURCE="n8n", SIDECAR_N8N_MEMORY_LIMIT_BYTES=2 * GIB
    )
    sampler = SignalSampler(settings, None, rate=RateCounter(), latency=LatencyReservoir())

    sample = sampler.sample()
    assert sample.eventloop_lag_seconds == pytest.approx(0.715128831)
    assert sample.memory_percent == pytest.approx(25.0)
    assert call.call_count == 1
    sampler.sample()
    assert call.call_count == 2


@responses.activate
def test_a_failed_scrape_is_not_retried_within_a_sample() -> None:
    call = responses.get(f"{N8N}/metrics", status=404)
    settings = load_settings(
        N8N_URL=N8N, SIDECAR_MEMORY_SOURCE="n8n", SIDECAR_N8N_MEMORY_LIMIT_BYTES=2 * GIB
    )
    sampler = SignalSampler(settings, None, rate=RateCounter(), latency=LatencyReservoir())

    sample = sampler.sample()
    assert sample.memory_percent is None and sample.eventloop_lag_seconds is None
    assert call.call_count == 1
    assert {"memory_percent", "eventloop_lag_seconds"} <= set(sampler.errors())


@responses.activate
def test_n8n_metrics_are_not_read_unless_the_memory_source_is_n8n() -> None:
    call = responses.get(f"{N8N}/metrics", body=METRICS_TEXT)
    settings = load_settings(N8N_URL=N8N)  # SIDECAR_MEMORY_SOURCE=host
    sampler = SignalSampler(settings, None, rate=RateCounter(), latency=LatencyReservoir())

    assert sampler.sample().eventloop_lag_seconds is None
    assert call.call_count == 0 and sampler.errors() == {}
    lag = signal_sources(settings)["eventloop_lag_seconds"]
    assert lag.source == N8N_METRICS and "SIDECAR_MEMORY_SOURCE=n8n" in (lag.note or "")


def test_without_an_api_key_the_execution_signal_is_blind_answer_time() -> None:
    plain = signal_sources(load_settings(N8N_URL=N8N))
    assert plain["exec_p95_seconds"].source == ANSWER_TIME
    assert plain["exec_p95_seconds"].blind
    assert plain["memory_percent"].source == HOST
    assert plain["eventloop_lag_seconds"].source == N8N_METRICS
    keyed = signal_sources(
        load_settings(
            N8N_URL=N8N,
            SIDECAR_N8N_API_KEY="k",
            SIDECAR_MEMORY_SOURCE="n8n",
            SIDECAR_N8N_MEMORY_LIMIT_BYTES=GIB,
        )
    )
    assert keyed["exec_p95_seconds"].source == N8N_API
    assert not keyed["exec_p95_seconds"].blind
    assert keyed["memory_percent"].source == N8N_METRICS

    sampler = SignalSampler(load_settings(N8N_URL=N8N), None, n8n=object())  # type: ignore[arg-type]
    assert sampler.blind == {"exec_p95_seconds"}


class SavedSample:
    """A store that holds one saved sample."""

    def __init__(self, sample: dict | None) -> None:
        self.sample = sample

    def last_signals(self) -> dict | None:
        return self.sample


def test_the_last_eventloop_lag_is_shared_while_fresh() -> None:
    saved = SavedSample({"at": 1000.0, "values": {"eventloop_lag_seconds": 0.25}})
    assert shared_eventloop_lag(saved, max_age_seconds=60, now=1030.0) == 0.25
    assert shared_eventloop_lag(saved, max_age_seconds=60, now=1061.0) is None
    assert shared_eventloop_lag(SavedSample(None), max_age_seconds=60, now=1.0) is None
    empty = SavedSample({"at": 1000.0, "values": {"eventloop_lag_seconds": None}})
    assert shared_eventloop_lag(empty, max_age_seconds=60, now=1000.0) is None
