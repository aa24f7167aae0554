"""Auto-pipelining of a Lua script (sidecar/backend/script_pipeline.py) against a real Redis:
the calls of one loop turn share one pipeline, and each caller still gets its own reply or
its own error — NOSCRIPT included, and a dead connection for all of them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import redis
import redis.asyncio as aredis

from sidecar.backend.script_pipeline import MOST_PER_ROUND, ScriptPipeline
from sidecar.harness.ports import free_port

# INCR on KEYS[1], then answer ARGV[1] and the count: errors (WRONGTYPE) when KEYS[1] holds
# a string that is not a number.
SCRIPT = "local n = redis.call('INCR', KEYS[1]) return {ARGV[1], n}"


def run(url: str, body: Callable[[ScriptPipeline], Awaitable[object]]) -> tuple[object, int]:
    """Run `body(pipeline)` on a fresh loop and client; (its result, pipelines sent)."""

    async def main() -> tuple[object, int]:
        client = aredis.Redis.from_url(url)
        pipeline = ScriptPipeline(client, client.register_script(SCRIPT))
        try:
            return await body(pipeline), pipeline.rounds
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_calls_of_one_turn_share_one_pipeline_and_get_their_own_replies(
    redis_url: str,
) -> None:
    async def body(pipeline: ScriptPipeline) -> list:
        calls = [pipeline([f"count:{n % 3}"], [f"call-{n}"]) for n in range(30)]
        return await asyncio.gather(*calls)

    replies, rounds = run(redis_url, body)
    assert [reply[0] for reply in replies] == [f"call-{n}".encode() for n in range(30)]
    assert sorted(reply[1] for reply in replies) == sorted([*range(1, 11)] * 3)
    assert rounds == 1


def test_calls_of_later_turns_go_in_later_pipelines(redis_url: str) -> None:
    async def body(pipeline: ScriptPipeline) -> list:
        return [await pipeline(["one-by-one"], [str(n)]) for n in range(3)]

    replies, rounds = run(redis_url, body)
    assert [reply[1] for reply in replies] == [1, 2, 3]
    assert rounds == 3


def test_a_big_turn_is_split_into_bounded_pipelines(redis_url: str) -> None:
    async def body(pipeline: ScriptPipeline) -> list:
        return await asyncio.gather(*(pipeline(["big"], ["x"]) for _ in range(MOST_PER_ROUND + 1)))

    replies, rounds = run(redis_url, body)
    assert sorted(reply[1] for reply in replies) == list(range(1, MOST_PER_ROUND + 2))
    assert rounds == 2


def test_one_failing_call_fails_alone(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).set("not-a-number", "text")

    async def body(pipeline: ScriptPipeline) -> list:
        calls = [pipeline(["fine"], ["a"]), pipeline(["not-a-number"], ["b"])]
        calls.append(pipeline(["fine"], ["c"]))
        return await asyncio.gather(*calls, return_exceptions=True)

    (first, failed, third), rounds = run(redis_url, body)
    assert first == [b"a", 1] and third == [b"c", 2]
    assert isinstance(failed, redis.ResponseError)
    assert "not an integer" in str(failed)
    assert rounds == 1


def test_calls_after_a_script_flush_load_it_again(redis_url: str) -> None:
    async def body(pipeline: ScriptPipeline) -> list:
        await pipeline(["warm"], ["w"])
        await pipeline.client.script_flush()
        return await asyncio.gather(*(pipeline(["flushed"], [str(n)]) for n in range(5)))

    replies, _ = run(redis_url, body)
    assert sorted(reply[1] for reply in replies) == [1, 2, 3, 4, 5]


def test_a_dead_connection_fails_every_call_of_the_pipeline() -> None:
    async def body(pipeline: ScriptPipeline) -> list:
        calls = [pipeline(["k"], [str(n)]) for n in range(4)]
        return await asyncio.gather(*calls, return_exceptions=True)

    replies, _ = run(f"redis://127.0.0.1:{free_port()}", body)
    assert len(replies) == 4
    assert all(isinstance(reply, redis.ConnectionError) for reply in replies)


@pytest.mark.parametrize("cancelled", [0, 2])
def test_a_cancelled_caller_does_not_disturb_the_others(redis_url: str, cancelled: int) -> None:
    async def body(pipeline: ScriptPipeline) -> list:
        tasks = [asyncio.ensure_future(pipeline(["c"], [str(n)])) for n in range(4)]
        await asyncio.sleep(0)  # every call is waiting for its pipeline
        tasks[cancelled].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    replies, _ = run(redis_url, body)
    assert isinstance(replies[cancelled], asyncio.CancelledError)
    assert sum(1 for reply in replies if isinstance(reply, list)) == 3
