"""Durable ack (`bench -s durable`): webhooks accepted per second through a queue-mode
gateway, side by side on Redis' of the same run — the shipped appendfsync everysec (a 202
may be lost with the last second in a crash), SIDECAR_DURABLE_ACK with appendfsync always
(on disk before the 202), the same with a replica acknowledging (WAIT), and, on Redis >=
7.2, SIDECAR_DURABLE_ACK with everysec (WAITAOF). The waits are batched across requests."""

from __future__ import annotations

from sidecar.bench.context import Bench
from sidecar.bench.faults.parts import READ_TIMEOUT_S, fault_redis, queue_gateway
from sidecar.bench.load import send_closed_loop
from sidecar.bench.report import Outcome, Row, ms, per_second
from sidecar.bench.stats import latency_summary_ms, ratio
from sidecar.harness.redis_server import RedisServer, answers, replica_link_up
from sidecar.harness.waiting import wait_until
from sidecar.queues.durability import read_durability

ALWAYS = ("--appendfsync", "always")
DURABLE = {"SIDECAR_DURABLE_ACK": "true"}
SYNC_POLL_SECONDS = 0.05


def measure(bench: Bench, server: RedisServer, count: int, **settings: str) -> dict:
    """`count` webhooks (after a warm-up) into a gateway on `server`: rate and latency."""
    opts = bench.options
    gateway = queue_gateway(bench, REDIS_URL=server.url, **settings)
    try:
        send_closed_loop(gateway.port, opts.senders * 4, opts.senders, opts.timeout, expected=202)
        with bench.progress.counting(", ".join(settings) or "everysec", count, "webhooks") as c:
            answers, elapsed = send_closed_loop(
                gateway.port, count, opts.senders, opts.timeout, c, expected=202
            )
    finally:
        bench.procs.stop(gateway.proc)
    latencies = latency_summary_ms([a.latency for a in answers])
    return {"rate_per_s": len(answers) / elapsed, **latencies}


def with_replica(bench: Bench, primary: RedisServer) -> RedisServer:
    """A replica of `primary`, once in sync."""
    replica = fault_redis(bench.procs, "--replicaof", "127.0.0.1", str(primary.port))
    wait_until(
        lambda: answers(replica.client(socket_timeout=READ_TIMEOUT_S), replica_link_up),
        bench.options.timeout,
        "the replica to be in sync",
        SYNC_POLL_SECONDS,
    )
    return replica


def run(bench: Bench) -> Outcome:
    """The variants, each on its own Redis, then the table."""
    count = bench.options.jobs
    results, servers = {}, []
    try:
        servers.append(fault_redis(bench.procs))
        results["everysec"] = measure(bench, servers[-1], count)
        version_client = servers[-1].client(socket_timeout=READ_TIMEOUT_S)
        waitaof = read_durability(version_client).waitaof
        version_client.close()
        if waitaof:
            results["everysec + durable ack (WAITAOF)"] = measure(
                bench, servers[-1], count, **DURABLE
            )
        servers.append(fault_redis(bench.procs, *ALWAYS))
        results["always + durable ack"] = measure(bench, servers[-1], count, **DURABLE)
        servers.append(with_replica(bench, servers[-1]))
        results["always + durable ack + 1 replica (WAIT)"] = measure(
            bench, servers[-2], count, **DURABLE, SIDECAR_DURABLE_ACK_REPLICAS="1"
        )
    finally:
        for started in servers:
            started.stop()
    base = results["everysec"]
    table = [
        Row(
            f"202/s, p99 (p50): {name}",
            f"{per_second(r['rate_per_s'])}, {ms(r['p99_ms'])} ({ms(r['p50_ms'])})",
            f"{per_second(base['rate_per_s'])} everysec, no durable ack",
            ratio(r["rate_per_s"], base["rate_per_s"]),
        )
        for name, r in results.items()
    ]
    if not waitaof:
        table.append(Row("everysec + durable ack", "refused: no WAITAOF before Redis 7.2"))
    return Outcome("durable", table, results)
