"""SIDECAR_DURABLE_ACK against real redis-servers: on disk (appendfsync always verified, or
WAITAOF on Redis >= 7.2), on replicas (WAIT), refused before storing when Redis cannot give
it, and the waits batched across concurrent requests."""

from __future__ import annotations

import threading

import pytest
import redis

from sidecar.capture import CapturedRequest
from sidecar.errors import ServiceUnavailable
from sidecar.harness.redis_server import RedisServer
from sidecar.harness.waiting import wait_until
from sidecar.queues.durability import read_durability, version_tuple
from sidecar.queues.durable_ack import AckBatcher, NotDurable
from sidecar.queues.intake import Intake
from sidecar.queues.jobs import queue_key
from sidecar.settings import load_settings

AOF = ["--appendonly", "yes"]


def webhook(number: int) -> CapturedRequest:
    body = b'{"n": %d}' % number
    return CapturedRequest("POST", f"/webhook/order/{number}", "", [], body)


def intake_for(server: RedisServer, **settings: object) -> Intake:
    values = load_settings(REDIS_URL=server.url, SIDECAR_DURABLE_ACK="true", **settings)
    return Intake(server.client(), values)


def waiting(server: RedisServer) -> int:
    return int(server.client().llen(queue_key("flrts:webhooks:inbound")))


def test_appendfsync_always_gives_the_durable_202(server_factory) -> None:
    server = server_factory(*AOF, "--appendfsync", "always")
    queued = intake_for(server).enqueue(webhook(1))
    assert queued.job_id
    assert waiting(server) == 1


def test_everysec_without_waitaof_is_refused_before_anything_is_stored(server_factory) -> None:
    server = server_factory(*AOF, "--appendfsync", "everysec")
    if read_durability(server.client()).waitaof:
        pytest.skip("this Redis has WAITAOF: everysec can be waited for")
    with pytest.raises(ServiceUnavailable) as caught:
        intake_for(server).enqueue(webhook(1))
    assert caught.value.headers["Retry-After"]
    assert waiting(server) == 0


def test_appendonly_no_is_refused(server_factory) -> None:
    server = server_factory("--appendonly", "no")
    with pytest.raises(ServiceUnavailable):
        intake_for(server).enqueue(webhook(1))
    assert waiting(server) == 0


def test_a_replica_acknowledges_the_job(server_factory) -> None:
    primary = server_factory(*AOF, "--appendfsync", "always")
    replica = server_factory("--replicaof", "127.0.0.1", str(primary.port))
    wait_synced(replica.client())
    intake = intake_for(primary, SIDECAR_DURABLE_ACK_REPLICAS=1)
    intake.enqueue(webhook(1))
    assert intake.durable is not None and intake.durable.batcher.rounds == 1
    assert replica.client().llen(queue_key("flrts:webhooks:inbound")) == 1


def test_a_missing_replica_answers_503_once_the_wait_times_out(server_factory) -> None:
    primary = server_factory(*AOF, "--appendfsync", "always")
    intake = intake_for(
        primary, SIDECAR_DURABLE_ACK_REPLICAS=1, SIDECAR_DURABLE_ACK_TIMEOUT_SECONDS=0.2
    )
    with pytest.raises(ServiceUnavailable) as caught:
        intake.enqueue(webhook(1))
    assert caught.value.headers["Retry-After"]
    assert waiting(primary) == 1  # stored: it will be delivered; a retry is a duplicate


def test_concurrent_confirms_share_one_check() -> None:
    release, entered = threading.Event(), threading.Event()
    calls: list[int] = []

    def check() -> None:
        calls.append(1)
        entered.set()
        release.wait(10)

    batcher = AckBatcher(check, timeout=10)
    first = threading.Thread(target=batcher.confirm)
    first.start()
    assert entered.wait(10)  # the first round is running
    queued = [threading.Thread(target=batcher.confirm) for _ in range(20)]
    for thread in queued:
        thread.start()
    wait_until(lambda: len(batcher._pending) == 20, 30, "20 callers waiting")
    release.set()
    for thread in [first, *queued]:
        thread.join(10)
    assert len(calls) == 2  # one for the first caller, one for the twenty queued behind it


def test_a_failed_check_fails_every_caller_of_its_batch() -> None:
    def check() -> None:
        raise NotDurable("0 of 1 replicas acknowledged in time")

    with pytest.raises(NotDurable, match="0 of 1 replicas"):
        AckBatcher(check, timeout=1).confirm()


def test_version_tuple() -> None:
    assert version_tuple("7.2.4") >= (7, 2)
    assert version_tuple("7.0.15") < (7, 2)


def wait_synced(client: redis.Redis) -> None:
    up = lambda: client.info("replication").get("master_link_status") == "up"  # noqa: E731
    wait_until(up, 30, "the replica to sync")


def test_the_sender_gets_a_json_503_with_retry_after(server_factory, n8n) -> None:
    from sidecar.app import create_app

    server = server_factory("--appendonly", "no")
    settings = load_settings(
        N8N_URL=n8n.url, REDIS_URL=server.url, SIDECAR_MODE="queue", SIDECAR_DURABLE_ACK="true"
    )
    answer = create_app(settings).test_client().post("/webhook/order", json={"id": 1})
    assert answer.status_code == 503
    assert set(answer.get_json()) == {"error", "message"}
    assert answer.headers["Retry-After"]
    assert waiting(server) == 0


def test_a_typed_job_waits_for_durability_too(server_factory, n8n) -> None:
    from sidecar.app import create_app

    server = server_factory("--appendonly", "no")
    settings = load_settings(
        N8N_URL=n8n.url,
        REDIS_URL=server.url,
        SIDECAR_DURABLE_ACK="true",
        SIDECAR_ADMIN_TOKENS="operator:o-token",
    )
    task = {"userId": 42, "title": "Replace pump seal", "dueDate": "2030-01-31"}
    answer = (
        create_app(settings)
        .test_client()
        .post("/v1/jobs/tasks:create", json=task, headers={"Authorization": "Bearer o-token"})
    )
    assert answer.status_code == 503, answer.get_json()
    assert answer.headers["Retry-After"]
    assert server.client().llen(queue_key("flrts:tasks:create")) == 0


def test_defaults_keep_todays_ack_and_verify_tls_host_names() -> None:
    settings = load_settings(_env_file=None)
    assert settings.durable_ack is False
    assert (settings.durable_ack_replicas, settings.durable_ack_timeout_seconds) == (0, 2)
    assert settings.redis_tls_verify_hostname is True


class RecordingPipeline:
    """A pipeline that records commands and answers as Redis >= 7.2 would (this machine's
    Redis may be older: WAITAOF's reply handling is checked against its documented form)."""

    def __init__(self, waitaof_reply: list[int], sent: list[tuple]) -> None:
        self.reply, self.sent = waitaof_reply, sent

    def __enter__(self) -> RecordingPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def incr(self, key: str) -> None:
        self.sent.append(("INCR", key))

    def execute_command(self, *args: object) -> None:
        self.sent.append(args)

    def execute(self) -> list:
        return [1, self.reply]


@pytest.mark.parametrize(
    ("reply", "replicas", "refused"),
    [([1, 0], 0, None), ([0, 0], 0, "not fsync'd"), ([1, 0], 1, "0 of 1 replicas")],
)
def test_waitaof_covers_disk_and_replicas(server_factory, reply, replicas, refused) -> None:
    from sidecar.queues.durability import Durability
    from sidecar.queues.durable_ack import DurableAck

    server = server_factory(*AOF)
    settings = load_settings(
        REDIS_URL=server.url, SIDECAR_DURABLE_ACK="true", SIDECAR_DURABLE_ACK_REPLICAS=replicas
    )
    ack = DurableAck(server.client(), settings)
    sent: list[tuple] = []
    ack.client = type(
        "Client", (), {"pipeline": lambda *_a, **_k: RecordingPipeline(reply, sent)}
    )()
    modern = Durability("7.2.4", "yes", "everysec", "noeviction", replicas, waitaof=True)
    ack.probe.current = lambda: modern  # type: ignore[method-assign]
    ack.ready()  # everysec is enough with WAITAOF
    if refused is None:
        ack.confirm()
    else:
        with pytest.raises(ServiceUnavailable):
            ack.confirm()
        with pytest.raises(NotDurable, match=refused):
            ack._check()
    assert sent[:2] == [("INCR", "flrts:durable-ack"), ("WAITAOF", 1, replicas, 2000)]
