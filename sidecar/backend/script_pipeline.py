"""Auto-pipelining of one Lua script on the event loop (ADR-007): the calls made in one turn
of the loop go to Redis together, in one pipeline — one write and one read for all of them
instead of a round trip and redis-py's per-command machinery each. ioredis's
enableAutoPipelining, which BullMQ rides on, does the same.

Each caller still gets its own reply or its own error. A call that meets NOSCRIPT (Redis
restarted or flushed its scripts) is sent again on its own through redis-py's Script, which
loads the script first. When the connection fails, every call of that pipeline gets the
error, as each would have alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

MOST_PER_ROUND = 128  # calls per pipeline; more in one turn go in further pipelines


@dataclass
class Call:
    """One caller's script call and the future its reply goes to."""

    keys: Sequence[str | bytes]
    args: Sequence[str | bytes | int | float]
    reply: asyncio.Future


class ScriptPipeline:
    """`await pipeline(keys, args)` runs `script` like `await script(keys=…, args=…)`, with
    the other calls of the same loop turn. `rounds` counts the pipelines sent."""

    def __init__(self, client: aredis.Redis, script: AsyncScript) -> None:
        self.client, self.script = client, script
        self.waiting: list[Call] = []
        self.sending: set[asyncio.Task] = set()
        self.rounds = 0

    async def __call__(
        self, keys: Sequence[str | bytes], args: Sequence[str | bytes | int | float]
    ) -> object:
        """The script's reply to this call (or its error)."""
        loop = asyncio.get_running_loop()
        if not self.waiting:
            loop.call_soon(self._flush)  # after the calls the other ready callbacks make
        call = Call(keys, args, loop.create_future())
        self.waiting.append(call)
        return await call.reply

    def _flush(self) -> None:
        batch, self.waiting = self.waiting, []
        for start in range(0, len(batch), MOST_PER_ROUND):
            task = asyncio.ensure_future(self._send(batch[start : start + MOST_PER_ROUND]))
            self.sending.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(self.sending.discard)

    async def _send(self, batch: list[Call]) -> None:
        self.rounds += 1
        if len(batch) == 1:
            return await self._alone(batch[0])
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for call in batch:
                    pipe.evalsha(self.script.sha, len(call.keys), *call.keys, *call.args)
                replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # the connection failed: each call would have met it
            for call in batch:
                _settle(call, error=exc)
            return
        for call, reply in zip(batch, replies, strict=True):
            if isinstance(reply, NoScriptError):
                await self._alone(call)
            elif isinstance(reply, Exception):
                _settle(call, error=reply)
            else:
                _settle(call, result=reply)

    async def _alone(self, call: Call) -> None:
        try:
            result = await self.script(keys=call.keys, args=call.args)
        except Exception as exc:
            _settle(call, error=exc)
        else:
            _settle(call, result=result)


def _settle(call: Call, result: object = None, error: BaseException | None = None) -> None:
    """Hand the outcome to a caller still waiting (one whose request was cancelled is not)."""
    if call.reply.done():
        return
    if error is not None:
        call.reply.set_exception(error)
    else:
        call.reply.set_result(result)
