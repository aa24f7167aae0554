"""One benchmark run: start Redis and the upstream, run the chosen scenarios in turn, stop
everything (also on Ctrl-C or SIGTERM), and hand back the outcomes."""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import redis

from sidecar.backend.connection import connect
from sidecar.bench.context import NO_LIMIT, PREFIX, Bench
from sidecar.bench.errors import BenchError
from sidecar.bench.limits import raise_open_files
from sidecar.bench.options import CROWD_SCENARIOS, Options
from sidecar.bench.progress import Progress
from sidecar.bench.report import Outcome
from sidecar.errors import ConfigError
from sidecar.harness.errors import HarnessError
from sidecar.harness.n8n_standin import start_upstream
from sidecar.harness.processes import Processes
from sidecar.harness.redis_server import SHIPPED_CONFIG, RedisServer
from sidecar.settings import Settings, load_settings

BUSY_LOAD = 0.5  # 1-minute load average above which the figures are flagged
STARTUP_SECONDS = 30.0


def bench_settings(redis_url: str, upstream_url: str) -> Settings:
    """Settings for in-process stores, as the child processes see them."""
    try:
        return load_settings(
            REDIS_URL=redis_url,
            N8N_URL=upstream_url,
            SIDECAR_QUEUE_PREFIX=PREFIX,
            SIDECAR_MODE="queue",
            SIDECAR_USER_RATE_LIMIT=NO_LIMIT,
        )
    except ConfigError as exc:
        raise BenchError(f"bad sidecar configuration: {'; '.join(exc.problems)}") from None


def environment(bench: Bench) -> dict:
    """Where the figures come from."""
    load = os.getloadavg()[0]
    return {
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "redis": bench.client.info("server")["redis_version"],
        "upstream": bench.upstream.kind,
        "loadavg_1m_at_start": round(load, 2),
        "busy": load > BUSY_LOAD,
        "sidecar_env_passed_through": sorted(k for k in os.environ if k.startswith("SIDECAR_")),
    }


def run_scenarios(bench: Bench) -> list[Outcome]:
    """Every chosen scenario, in order, on an empty Redis."""
    bench.progress.plan(len(bench.options.scenarios))
    outcomes = []
    for name in bench.options.scenarios:
        bench.progress.scenario(name)
        bench.reset()
        scenario = importlib.import_module(f"sidecar.bench.scenarios.{name.replace('-', '_')}")
        outcomes.append(scenario.run(bench))
    return outcomes


def run_in(procs: Processes, options: Options, progress: Progress) -> tuple[dict, list[Outcome]]:
    """Start Redis and the upstream in the processes' dir, then run the scenarios."""
    if set(CROWD_SCENARIOS) & set(options.scenarios):  # the upstream holds the crowd too
        raise_open_files(options.crowd)
    progress.say("starting redis-server and the stand-in upstream")
    server = RedisServer(SHIPPED_CONFIG, startup_timeout=STARTUP_SECONDS, procs=procs)
    redis_url = server.start().url
    upstream = start_upstream(procs)
    settings = bench_settings(redis_url, upstream.url)
    client = connect(settings)
    bench = Bench(options, procs, redis_url, upstream, settings, client, progress)
    try:
        env = environment(bench)
        if env["busy"]:
            progress.say(f"warning: load average {env['loadavg_1m_at_start']}: figures may be low")
        return env, run_scenarios(bench)
    except redis.RedisError as exc:
        raise BenchError(f"Redis failed: {exc}") from None
    finally:
        client.close()


def on_sigterm(*_: object) -> None:
    """SIGTERM ends the run like Ctrl-C, so the children are cleaned up."""
    raise KeyboardInterrupt


def run(options: Options, progress: Progress) -> tuple[dict, list[Outcome]]:
    """The whole run. Logs of the children stay in a temp dir after an error (it is named)."""
    signal.signal(signal.SIGTERM, on_sigterm)
    tmp = Path(tempfile.mkdtemp(prefix="n8n-sidecar-bench-"))
    procs = Processes(tmp)
    try:
        result = run_in(procs, options, progress)
    except KeyboardInterrupt:
        raise
    except HarnessError as exc:  # BenchError too
        raise BenchError(f"{exc} (logs of the processes kept in {tmp})") from exc
    except Exception as exc:  # a bug: one line, and the children's logs are kept
        raise BenchError(f"{type(exc).__name__}: {exc} (logs kept in {tmp})") from exc
    finally:
        procs.stop_all()
    shutil.rmtree(tmp, ignore_errors=True)
    return result
