"""Reading a request and writing an answer on the event loop (ASGI messages): the body
under its size limit and read deadline, JSON answers, and n8n's answer streamed as it comes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from sidecar.errors import PayloadTooLarge, RequestTimeout, UpstreamError
from sidecar.http.errors import error_answer
from sidecar.redact import redact
from sidecar.upstream_async import AsyncUpstreamResponse

log = logging.getLogger("sidecar.http")

Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
CLOSE = (b"connection", b"close")
WHOLE_ANSWER_BYTES = 64 * 1024  # n8n answers up to this size (declared) are passed whole


class SenderGone(Exception):
    """The sender closed the connection before its request was complete."""


async def read_body(receive: Receive, declared: int | None, limit: int, deadline: float) -> bytes:
    """The whole request body: PayloadTooLarge past `limit` bytes, RequestTimeout when it is
    not all there within `deadline` seconds, SenderGone if the sender left."""
    chunks, size = [], 0
    try:
        async with asyncio.timeout(deadline):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise SenderGone()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"request body is over the {limit}-byte limit")
                chunks.append(chunk)
                if not message.get("more_body"):
                    return b"".join(chunks)
    except TimeoutError:
        got = f"{size} of {declared}" if declared is not None else f"{size}"
        raise RequestTimeout(
            f"the request body was not received within {deadline:g} s ({got} bytes came)"
        ) from None


async def send_json(
    send: Send, status: int, body: dict, headers: list[tuple[bytes, bytes]]
) -> None:
    """A JSON answer in one message."""
    data = json.dumps(body).encode()
    head = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": data})


async def pass_answer(
    send: Send, receive: Receive, answer: AsyncUpstreamResponse, headers: list[tuple[bytes, bytes]]
) -> int:
    """n8n's answer to the sender; the status sent. A body n8n declared small comes whole, in
    one message (no stream to watch: most webhook answers); any other is streamed."""
    if not answer.sized_within(WHOLE_ANSWER_BYTES):
        await stream_answer(send, receive, answer, headers)
        return answer.status
    try:
        body = await answer.read()
    except UpstreamError as exc:  # nothing sent yet: the sender gets a clear 502
        log.warning("n8n's answer broke off: %s", redact(str(exc)))
        status, error, extra = error_answer(exc)
        await send_json(send, status, error, [*lower_headers(extra), *headers])
        return status
    head = [*answer.headers, *headers]
    await send({"type": "http.response.start", "status": answer.status, "headers": head})
    await send({"type": "http.response.body", "body": body})
    return answer.status


def lower_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """Header pairs as ASGI wants them (lower-case name bytes, value bytes)."""
    return [(k.lower().encode(), v.encode()) for k, v in headers.items()]


async def stream_answer(
    send: Send, receive: Receive, answer: AsyncUpstreamResponse, headers: list[tuple[bytes, bytes]]
) -> None:
    """n8n's answer: its status and headers, then each chunk of its body as it arrives
    (an SSE event reaches the sender when n8n sends it). When the sender leaves first, the
    stream from n8n is closed at once (a long MCP stream does not outlive its sender)."""
    pump = asyncio.ensure_future(_pump(send, answer, headers))
    left = asyncio.ensure_future(_sender_left(receive))
    try:
        await asyncio.wait({pump, left}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        left.cancel()
        if not pump.done():
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        answer.close()
    if not pump.cancelled():
        pump.result()


async def _sender_left(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _pump(send: Send, answer: AsyncUpstreamResponse, headers: list[tuple[bytes, bytes]]):
    """A body n8n breaks off is cut off for the sender too (no last chunk)."""
    head = [*answer.headers, *headers]
    try:
        await send({"type": "http.response.start", "status": answer.status, "headers": head})
        async for chunk in answer.iter_body():
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except UpstreamError as exc:
        log.warning("n8n's answer broke off: %s", redact(str(exc)))
        return
    await send({"type": "http.response.body", "body": b""})
