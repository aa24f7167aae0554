"""Dead letters stay bounded: by count, by age, listings that never read payloads, and a
per-path cap on n8n's "webhook is not registered" 404s (metric and alert)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import pytest
import redis
from flask.testing import FlaskClient
from support.dead_letters import deliver_all, make_dead_letters

from sidecar.app import create_app
from sidecar.backend.connection import connect
from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.harness.n8n_standin import FakeN8n
from sidecar.harness.waiting import wait_until
from sidecar.queues.deadletters import newest_entries
from sidecar.queues.deadletters.entries import DEAD_LETTER_FUNC, entry_for
from sidecar.queues.jobs import build_job, decode_data, persist
from sidecar.settings import Settings, load_settings

INBOUND, DEAD_LETTER = "flrts:webhooks:inbound", "flrts:dead-letter"
DLQ = "rq:queue:flrts:dead-letter"
BY_QUEUE = "sidecar:dlq:queue:flrts:webhooks:inbound"
VIEWER = {"Authorization": "Bearer v-token"}


@pytest.fixture
def make_settings(n8n: FakeN8n, redis_url: str):
    def build(**extra: object) -> Settings:
        return load_settings(
            _env_file=None,
            N8N_URL=n8n.url,
            REDIS_URL=redis_url,
            SIDECAR_MODE="queue",
            SIDECAR_ADMIN_TOKENS="viewer:v-token",
            SIDECAR_JOB_ATTEMPTS=1,
            **{k: str(v) for k, v in extra.items()},
        )

    return build


def listing(client: FlaskClient, query: str = "") -> dict:
    response = client.get(f"/v1/dlq{query}", headers=VIEWER)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_only_the_newest_entries_are_kept(make_settings, rdb: redis.Redis) -> None:
    settings = make_settings(SIDECAR_DLQ_MAX_ENTRIES=3)
    client = create_app(settings).test_client()
    job_ids = []
    for i in range(5):  # one worker run each: a known order; the worker trims as it exits
        job_ids.append(client.post(f"/webhook/gone-{i}", data=b"x").get_json()["jobId"])
        deliver_all(settings)

    body = listing(client)
    assert body["total"] == 3
    assert [item["jobId"] for item in body["items"]] == job_ids[2:]
    assert rdb.llen(DLQ) == 3 and rdb.zcard(BY_QUEUE) == 3
    entries = [i.decode() for i in rdb.lrange(DLQ, 0, -1)]
    assert len(rdb.keys("rq:job:*")) == 5 + 3  # the 5 failed jobs, 3 entries: none left over
    assert all(rdb.exists(f"rq:job:{e}") for e in entries)
    assert [rdb.exists(f"sidecar:dlq:job:{j}") for j in job_ids] == [0, 0, 1, 1, 1]


def test_the_newest_entries_come_newest_first(make_settings) -> None:
    settings = make_settings()
    client = create_app(settings).test_client()
    job_ids = []
    for i in range(3):  # one worker run each: a known order
        job_ids.append(client.post(f"/webhook/gone-{i}", data=b"x").get_json()["jobId"])
        deliver_all(settings)

    entries, total = newest_entries(connect(settings), settings, 2)

    assert total == 3
    assert [entry.jobId for entry in entries] == [job_ids[2], job_ids[1]]


def test_entries_expire_with_their_index_and_list_ids(make_settings, rdb: redis.Redis) -> None:
    settings = make_settings(SIDECAR_DLQ_MAX_AGE_SECONDS=1)
    client = create_app(settings).test_client()
    (job_id,) = make_dead_letters(client, settings)
    entry_id = rdb.lindex(DLQ, 0).decode()
    assert 0 < rdb.ttl(f"rq:job:{entry_id}") <= 1
    assert 0 < rdb.ttl(f"sidecar:dlq:job:{job_id}") <= 1

    def expired() -> bool:  # each listing trims: the zset member goes once its age has passed
        return listing(client)["total"] == 0 and rdb.zcard(BY_QUEUE) == 0

    wait_until(expired, timeout=10, what="the entry to expire")
    assert rdb.llen(DLQ) == 0
    assert not rdb.exists(f"rq:job:{entry_id}", f"sidecar:dlq:job:{job_id}")


def test_listing_never_reads_payloads(make_settings, rdb: redis.Redis) -> None:
    settings = make_settings()
    client = create_app(settings).test_client()
    make_dead_letters(client, settings, count=3)
    job_ids = [item["jobId"] for item in listing(client)["items"]]
    huge = os.urandom(1024 * 1024)  # neither zlib nor JSON, and large
    for entry_id in rdb.lrange(DLQ, 0, -1):
        rdb.hset(f"rq:job:{entry_id.decode()}", "data", huge)
    sent_before = rdb.info("stats")["total_net_output_bytes"]

    body = listing(client, "?limit=2")
    by_queue = listing(client, "?queue=webhooks:inbound&offset=1&limit=5")

    sent = rdb.info("stats")["total_net_output_bytes"] - sent_before
    assert sent < 64 * 1024  # not one payload went out
    assert body["total"] == 3 and [i["jobId"] for i in body["items"]] == job_ids[:2]
    assert "404" in body["items"][0]["error"]
    assert by_queue["total"] == 3 and [i["jobId"] for i in by_queue["items"]] == job_ids[1:]


def test_a_page_reads_only_its_own_entries(make_settings, rdb: redis.Redis) -> None:
    settings = make_settings()
    client = create_app(settings).test_client()
    make_dead_letters(client, settings, count=30)
    rdb.config_resetstat()

    assert len(listing(client, "?offset=10&limit=3")["items"]) == 3

    stats = rdb.info("commandstats")
    hash_reads = sum(
        stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("hget", "hmget", "hgetall")
    )
    assert hash_reads <= 3


def test_unregistered_webhooks_are_capped_per_path(make_settings, rdb: redis.Redis) -> None:
    settings = make_settings(SIDECAR_DLQ_UNREGISTERED_PER_HOUR=2)
    client = create_app(settings).test_client()
    for i in range(5):
        client.post("/webhook/scan-me", data=f"probe {i}".encode())
    client.post("/webhook/other", data=b"x")
    deliver_all(settings)

    body = listing(client)
    paths = sorted(_path(rdb, item["jobId"]) for item in body["items"])
    assert paths == ["/webhook/other", "/webhook/scan-me", "/webhook/scan-me"]
    assert 'sidecar_dlq_dropped_total{reason="unregistered_webhook"} 3.0' in _metrics(client)
    assert [a["kind"] for a in _alerts(rdb)] == ["unregistered_webhook"]
    assert "/webhook/scan-me" in _alerts(rdb)[0]["message"]

    for i in range(2):  # more of the same within the cool-down: counted, not re-alerted
        client.post("/webhook/scan-me", data=f"again {i}".encode())
    deliver_all(settings)
    assert listing(client)["total"] == 3
    assert 'sidecar_dlq_dropped_total{reason="unregistered_webhook"} 5.0' in _metrics(client)
    assert len(_alerts(rdb)) == 1


def _path(rdb: redis.Redis, job_id: str) -> str:
    """The webhook path of a job (its payload is not sealed in these tests)."""
    return decode_data(rdb.hget(f"rq:job:{job_id}", "data"))["path"]


def _metrics(client: FlaskClient) -> str:
    return client.get("/metrics").get_data(as_text=True)


def _alerts(rdb: redis.Redis) -> list[dict]:
    return [
        json.loads(fields[b"data"])
        for _, fields in rdb.xrange(DEFAULT_KEYS.events)
        if fields[b"type"] == b"alert"
    ]


def test_entries_of_earlier_versions_are_adopted(make_settings, rdb: redis.Redis) -> None:
    settings = make_settings()
    entry = entry_for(INBOUND, "oldjob1", {"path": "/webhook/old"}, "n8n answered HTTP 404", 1)
    entry["failedAt"] = "2026-01-01T00:00:00.000+00:00"  # long ago: expires at once
    recent = {**entry, "jobId": "oldjob2", "failedAt": datetime.now(UTC).isoformat()}
    client = connect(settings)
    for old in (entry, recent):  # as earlier versions wrote them: an RQ job, nothing beside
        job = build_job(client, settings, DEAD_LETTER, old, DEAD_LETTER_FUNC)
        with client.pipeline() as pipe:
            persist(pipe, DEAD_LETTER, job)
            pipe.execute()

    deliver_all(settings)  # a worker adopts them when it starts

    body = listing(create_app(settings).test_client())
    assert [item["jobId"] for item in body["items"]] == ["oldjob2"]
    assert body["items"][0]["error"] == "n8n answered HTTP 404"
    entry_id = rdb.get("sidecar:dlq:job:oldjob2").decode()
    assert 0 < rdb.ttl(f"rq:job:{entry_id}") <= settings.dlq_max_age_seconds
    assert rdb.zrange(BY_QUEUE, 0, -1) == [entry_id.encode()]
