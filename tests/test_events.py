"""The event stream: written by any process, read by GET /v1/events and `events --follow`."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
import redis
from test_cli import run_cli

from sidecar.app import create_app
from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.events import STREAM_MAXLEN, add_event, read_events
from sidecar.harness.sidecar_processes import ROOT, sidecar_env
from sidecar.settings import load_settings

AUTH = {"Authorization": "Bearer v"}


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def api(n8n, redis_url: str):
    settings = load_settings(
        _env_file=None, N8N_URL=n8n.url, REDIS_URL=redis_url, SIDECAR_ADMIN_TOKENS="viewer:v"
    )
    return create_app(settings).test_client()


def test_events_come_back_in_order_after_an_id(client: redis.Redis, api) -> None:
    for number in range(5):
        add_event(client, DEFAULT_KEYS, "completed", {"jobId": f"j{number}"})
    body = api.get("/v1/events", headers=AUTH).get_json()
    assert [e["data"]["jobId"] for e in body["events"]] == ["j0", "j1", "j2", "j3", "j4"]
    assert body["events"][0]["type"] == "completed"
    after = body["events"][1]["id"]
    rest = api.get(f"/v1/events?after={after}&limit=2", headers=AUTH).get_json()
    assert [e["data"]["jobId"] for e in rest["events"]] == ["j2", "j3"]
    assert rest["last"] == rest["events"][-1]["id"]


@pytest.mark.parametrize("query", ["after=abc", "after=1-2-3", "limit=0", "limit=x"])
def test_bad_parameters_are_400(api, query: str) -> None:
    response = api.get(f"/v1/events?{query}", headers=AUTH)
    assert response.status_code == 400
    assert set(response.get_json()) == {"error", "message"}


def test_events_need_a_viewer_token(api) -> None:
    assert api.get("/v1/events").status_code == 401


def test_stream_is_capped(client: redis.Redis) -> None:
    with client.pipeline(transaction=False) as pipe:
        for number in range(STREAM_MAXLEN + 2000):
            add_event(pipe, DEFAULT_KEYS, "completed", {"n": number})
        pipe.execute()
    assert client.xlen("sidecar:events") < STREAM_MAXLEN + 2000
    assert read_events(client, DEFAULT_KEYS, "0", 1)[0]["data"]["n"] > 0  # the oldest were trimmed


def test_cli_prints_events_as_json_lines(client: redis.Redis, redis_url: str) -> None:
    add_event(client, DEFAULT_KEYS, "failed", {"jobId": "x"})
    result = run_cli("events", REDIS_URL=redis_url)
    assert result.returncode == 0
    assert json.loads(result.stdout.splitlines()[0])["type"] == "failed"
    assert run_cli("events", "--after", "nope", REDIS_URL=redis_url).returncode == 2


def test_cli_follow_prints_new_events_as_they_come(client: redis.Redis, redis_url: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sidecar", "events", "--follow"],
        env=sidecar_env(REDIS_URL=redis_url),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    # It follows from when it starts (not known here): events are added until one shows up.
    printed: list[str] = []
    reader = threading.Thread(target=lambda: printed.append(process.stdout.readline()))
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while reader.is_alive() and time.monotonic() < deadline:
            add_event(client, DEFAULT_KEYS, "stalled", {"jobId": "late"})
            reader.join(0.1)
        assert printed and json.loads(printed[0])["data"] == {"jobId": "late"}
    finally:
        process.terminate()
        process.wait(timeout=10)
