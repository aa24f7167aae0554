"""CoalescedWrites: the writes of one loop turn leave in one write, in order; close sends
what is pending first; nothing is written to a closing transport."""

from __future__ import annotations

import asyncio

from sidecar.coalesced_writes import CoalescedWrites


class RecordingTransport:
    """The calls a transport got, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def close(self) -> None:
        self.calls.append(("close", b""))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def on_a_loop(steps) -> RecordingTransport:  # type: ignore[no-untyped-def]
    transport = RecordingTransport()

    async def main() -> None:
        writes = CoalescedWrites(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        await steps(writes)

    asyncio.run(main())
    return transport


def test_a_head_and_body_written_in_one_turn_leave_in_one_write() -> None:
    async def steps(writes: CoalescedWrites) -> None:
        writes.write(b"HTTP/1.1 200 OK\r\n\r\n")
        writes.write(b"body")
        await asyncio.sleep(0)

    assert on_a_loop(steps).calls == [("write", b"HTTP/1.1 200 OK\r\n\r\nbody")]


def test_writes_of_later_turns_leave_in_their_own_turn_in_order() -> None:
    async def steps(writes: CoalescedWrites) -> None:
        writes.write(b"head")
        await asyncio.sleep(0)  # a streamed answer: its head leaves before the next event
        assert writes.transport.calls == [("write", b"head")]  # type: ignore[attr-defined]
        writes.write(b"event 1")
        await asyncio.sleep(0)

    assert on_a_loop(steps).calls == [("write", b"head"), ("write", b"event 1")]


def test_close_sends_what_is_pending_first() -> None:
    async def steps(writes: CoalescedWrites) -> None:
        writes.write(b"answer")
        writes.close()
        await asyncio.sleep(0)

    assert on_a_loop(steps).calls == [("write", b"answer"), ("close", b"")]


def test_nothing_is_written_to_a_transport_that_is_closing() -> None:
    async def steps(writes: CoalescedWrites) -> None:
        writes.write(b"late")
        writes.transport.closing = True  # type: ignore[attr-defined]  # the sender left
        await asyncio.sleep(0)

    assert on_a_loop(steps).calls == []


def test_everything_else_is_the_transports() -> None:
    async def steps(writes: CoalescedWrites) -> None:
        assert writes.get_extra_info("peername") == "info:peername"
        assert writes.is_closing() is False

    on_a_loop(steps)
