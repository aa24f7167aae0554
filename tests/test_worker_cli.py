"""`n8n-sidecar worker` as an operator runs it: queue names, exit codes, clear messages."""

from __future__ import annotations

import subprocess
import sys

import redis
from support.queues import DEAD_LETTER, dead_letters, enqueue, queue, status, webhooks

from sidecar.harness.n8n_standin import FakeN8n
from sidecar.harness.ports import free_port
from sidecar.harness.sidecar_processes import Gateway, sidecar_env


def assert_one_clear_line(output: str, *fragments: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    problems = [line for line in lines if line.startswith("error:")]
    assert len(problems) == 1, output
    for fragment in fragments:
        assert fragment in problems[0], output
    assert "Traceback" not in output


def test_unknown_queue_is_bad_usage(procs, queue_env) -> None:
    worker = procs.worker("--queue", "tasks:frobnicate", **queue_env)

    assert worker.wait(20) == 2
    assert_one_clear_line(worker.output(), "unknown queue", "tasks:frobnicate")


def test_the_dead_letter_queue_is_not_a_queue_to_deliver_from(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    enqueue(queue_gateway, "/webhook/never-registered")
    assert procs.worker("--burst", **queue_env).wait(20) == 0
    assert len(dead_letters(rdb)) == 1

    worker = procs.worker("--burst", "--queue", "dead-letter", **queue_env)

    assert worker.wait(20) == 2
    assert_one_clear_line(worker.output(), "dead-letter")
    assert len(dead_letters(rdb)) == 1
    assert queue(rdb, DEAD_LETTER).count == 1
    assert len(webhooks(n8n)) == 1


def test_unreachable_redis_is_a_runtime_failure(procs, queue_env) -> None:
    env = {**queue_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "REDIS_MAX_RETRIES": 0}
    worker = procs.worker("--burst", **env)

    assert worker.wait(20) == 1
    assert_one_clear_line(worker.output(), "Redis is unavailable")


def test_no_redis_configured_is_bad_config(procs, n8n: FakeN8n) -> None:
    worker = procs.worker("--burst", N8N_URL=n8n.url, SIDECAR_MODE="single")

    assert worker.wait(20) == 2
    assert_one_clear_line(worker.output(), "REDIS_URL")


def test_bad_settings_are_reported_per_variable(procs, queue_env) -> None:
    worker = procs.worker("--burst", **{**queue_env, "SIDECAR_LOCK_SECONDS": "soon"})

    assert worker.wait(20) == 2
    output = worker.output()
    assert "SIDECAR_LOCK_SECONDS" in output
    assert "Traceback" not in output


def test_bad_concurrency_is_bad_usage(procs, queue_env) -> None:
    worker = procs.worker("--concurrency", "0", **queue_env)

    assert worker.wait(20) == 2
    assert "Traceback" not in worker.output()


def test_queue_may_be_named_with_or_without_prefix(
    queue_gateway: Gateway, rdb: redis.Redis, procs, queue_env
) -> None:
    job_id = enqueue(queue_gateway, "/webhook/echo/named")

    for name in ("webhooks:inbound", "flrts:webhooks:inbound"):
        worker = procs.worker("--burst", "--queue", name, **queue_env)
        assert worker.wait(20) == 0, worker.output()
    assert status(rdb, job_id) == "finished"


def test_a_worker_leaves_other_queues_alone(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    job_id = enqueue(queue_gateway, "/webhook/echo/inbound")

    worker = procs.worker("--burst", "--queue", "tasks:create", **queue_env)

    assert worker.wait(20) == 0, worker.output()
    assert status(rdb, job_id) == "queued"
    assert webhooks(n8n) == []


def test_a_worker_process_keeps_the_collector_off_its_long_lived_objects(queue_env) -> None:
    probe = (
        "import gc; from sidecar.collector import GC_YOUNG_THRESHOLD;"
        "from sidecar.settings import load_settings; from sidecar.worker.main import run_worker;"
        "code = run_worker(load_settings(), ['webhooks:inbound'], 1, burst=True);"
        "print(code, gc.get_freeze_count() > 10000, gc.get_threshold()[0] == GC_YOUNG_THRESHOLD)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=sidecar_env(SIDECAR_LOG_LEVEL="WARNING", **queue_env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.split() == ["0", "True", "True"], done.stderr
