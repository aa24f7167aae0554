"""A transport whose writes of one event-loop turn leave as one write (ADR-007).

uvicorn writes an answer's status line and headers as soon as the app sends
`http.response.start`, and its body with the next message: two write calls, two TCP
segments, for the common answer that is whole at once. Through `CoalescedWrites` the writes
made before the loop's next turn are joined: one system call and one segment. A streamed
answer loses nothing: its head leaves at the next turn, before the loop waits for anything.

Everything but `write` and `close` goes to the real transport; `close` first sends what is
pending. The gateway protocol makes every write of a connection go through it (its own
400, 408 and the answers), so their order is kept.
"""

from __future__ import annotations

import asyncio


class CoalescedWrites:
    """Wraps `transport` on `loop`."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport, self.loop = transport, loop
        self.pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        """Queue `data` for the write at the end of this loop turn."""
        if not self.pending:
            self.loop.call_soon(self.flush)
        self.pending.append(data)

    def flush(self) -> None:
        """Write what is pending, in one call (dropped when the connection is closing)."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        if not self.transport.is_closing():
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        """Send what is pending, then close."""
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str) -> object:
        return getattr(self.transport, name)
