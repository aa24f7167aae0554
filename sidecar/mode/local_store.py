"""The mode of a gateway without Redis: the same API as ModeStore, kept in-process.

`open_store(client)` picks the one that fits the configuration.

Without Redis queue mode is impossible, so `pin("queue")` raises BackendUnavailable and
the controller (which is told queue_available=False) never leaves single mode.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import redis

from sidecar.backend.keys import KeySchema
from sidecar.errors import BackendUnavailable
from sidecar.mode.controller import MODES, QUEUE, SINGLE, ControllerState, Decision, Signals
from sidecar.mode.store import (
    CACHE_SECONDS,
    HISTORY_SIZE,
    ModeStore,
    ModeView,
    decision_entry,
    history_entry,
)


class LocalModeStore:
    """In-process mode store. Parameters: `history_size`, `clock` (unix seconds)."""

    def __init__(
        self, history_size: int = HISTORY_SIZE, clock: Callable[[], float] = time.time
    ) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._view = ModeView(SINGLE, "no Redis: single mode (ADR-001)", clock(), source="local")
        self._state: ControllerState | None = None
        self._signals: dict[str, Any] | None = None
        self._history: deque[str] = deque(maxlen=history_size)

    def current(self) -> ModeView:
        """The effective mode (always single without Redis)."""
        return self._view

    def read(self) -> ModeView:
        """The effective mode."""
        return self._view

    def peek(self) -> ModeView:
        """The effective mode (in memory: never waits)."""
        return self._view

    def invalidate(self) -> None:
        """Nothing is cached."""

    def pin(self, mode: str, by: str = "operator", reason: str | None = None) -> ModeView:
        """Pin single; pinning queue raises BackendUnavailable (queue mode needs Redis)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if mode == QUEUE:
            raise BackendUnavailable("queue mode needs Redis (REDIS_URL is not set)")
        why = reason or f"pinned to {mode} by {by}"
        with self._lock:
            before, now = self._view, self.clock()
            self._view = replace(before, reason=why, pinned=True, pinned_by=by)
            self._history.appendleft(history_entry(now, before.mode, mode, why, True, by))
            return self._view

    def unpin(self, by: str = "operator") -> ModeView:
        """Let the controller decide again (it stays single without Redis)."""
        with self._lock:
            if not self._view.pinned:
                return self._view
            why = f"unpinned by {by}: automatic switching continues from {self._view.mode}"
            self._view = replace(self._view, reason=why, pinned=False, pinned_by=None)
            self._state = ControllerState(mode=self._view.mode, reason=why, since=self._view.since)
            entry = history_entry(self.clock(), self._view.mode, self._view.mode, why, False, by)
            self._history.appendleft(entry)
            return self._view

    def apply_configured(self, configured: str) -> ModeView:
        """Apply SIDECAR_MODE at start: pin single; 'auto' lifts a pin set by config."""
        if configured in MODES:
            return self.pin(configured, by="config", reason=f"SIDECAR_MODE={configured}")
        if self._view.pinned and self._view.pinned_by == "config":
            return self.unpin(by="config")
        return self._view

    def controller_state(self) -> ControllerState | None:
        """The controller state saved last (a copy)."""
        with self._lock:
            return None if self._state is None else ControllerState.from_dict(self._state.to_dict())

    def record(self, decision: Decision, state: ControllerState, token: str | None) -> bool:
        """Save the controller's state and, on a switch, the mode; False while pinned."""
        with self._lock:
            if self._view.pinned:
                return False
            self._state = ControllerState.from_dict(state.to_dict())
            if decision.changed:
                self._view = ModeView(decision.mode, decision.reason, state.since, source="local")
                entry = decision_entry(decision, state)
                self._history.appendleft(entry)
            return True

    def save_signals(self, signals: Signals, errors: dict[str, str] | None = None) -> None:
        """Keep the last sample."""
        self._signals = {"at": self.clock(), "values": signals.to_dict(), "errors": errors or {}}

    def last_signals(self) -> dict[str, Any] | None:
        """The last sample saved."""
        return self._signals

    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Pins and unpins (and switches, which cannot happen without Redis), newest first."""
        with self._lock:
            entries = list(self._history)[: limit or len(self._history)]
        return [json.loads(entry) for entry in entries]


AnyStore = ModeStore | LocalModeStore


def open_store(
    client: redis.Redis | None,
    keys: KeySchema,
    cache_seconds: float = CACHE_SECONDS,
    configured: str = "auto",
) -> AnyStore:
    """The shared store when Redis is configured, else the in-process one."""
    if client is None:
        return LocalModeStore()
    return ModeStore(client, keys, cache_seconds=cache_seconds, configured=configured)
