"""The mode and the n8n circuit as the event loop reads them, without waiting for Redis on
the loop: the mode from the store's in-process cache while it is fresh (a write through the
management API clears it, as for the sync path); when it is stale, one read in a worker
thread that every webhook arriving meanwhile awaits. The circuit (cached by CircuitView
for seconds) is refreshed in a worker thread every CIRCUIT_REFRESH_SECONDS."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sidecar.mode.local_store import AnyStore

log = logging.getLogger("sidecar.http")
CIRCUIT_REFRESH_SECONDS = 0.5


class LoopModeView:
    """Parameters: `store` (the shared mode store), `read_circuit` (sync: whether the
    workers found n8n unreachable)."""

    def __init__(self, store: AnyStore, read_circuit: Callable[[], bool]) -> None:
        self.store, self.read_circuit = store, read_circuit
        self.circuit_open = False
        self._pending: asyncio.Future | None = None
        self._task: asyncio.Task | None = None

    async def mode(self) -> str:
        """The mode webhooks are handled in right now."""
        view = self.store.peek()
        if view is not None:
            return view.mode
        if self._pending is None:
            self._pending = asyncio.ensure_future(asyncio.to_thread(self.store.current))
            self._pending.add_done_callback(self._forget_pending)
        return (await asyncio.shield(self._pending)).mode

    def _forget_pending(self, _future: asyncio.Future) -> None:
        self._pending = None

    async def start(self) -> None:
        """Read the circuit once, then keep it fresh in the background."""
        self.circuit_open = await asyncio.to_thread(self.read_circuit)
        self._task = asyncio.create_task(self._keep_fresh())

    async def stop(self) -> None:
        """Stop refreshing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(CIRCUIT_REFRESH_SECONDS)
            try:
                self.circuit_open = await asyncio.to_thread(self.read_circuit)
            except Exception:  # keep the last value
                log.exception("reading the n8n circuit failed")
