"""The shared mode: what every gateway follows, kept in Redis.

Key layout (KeySchema.mode*, shown for the default prefix; backend/keys.py):

    sidecar:mode             hash   mode, reason, since (unix s), pinned (0|1), pinned_by
    sidecar:mode:controller  string ControllerState JSON (the evaluator continues it)
    sidecar:mode:signals     string the evaluator's last sample JSON {"at", "values", "errors"}
    sidecar:mode:history     list   newest first, capped: {"at", "from", "to", "reason",
                                    "pinned", "by"} per switch, pin and unpin
    sidecar:mode:evaluator   string the evaluator lock (lock.py)

Rules:

* `current()` is for the request path: cached in-process for `cache_seconds` (0.5 s), so a
  webhook costs no Redis round trip and every gateway follows a change within a second.
  One thread refreshes at a time; the others keep the cached view meanwhile.
* When Redis cannot be read, `current()` answers **single** (source "fallback"), pinned or
  not: queueing is impossible without Redis anyway, and single mode spares every webhook a
  failed Redis attempt before its passthrough. The failure is cached like a success, so a
  dead Redis is asked at most once per `cache_seconds`.
* A pin (`pin()`, `n8n-sidecar mode single|queue`, SIDECAR_MODE=single|queue) wins over the
  controller: `record()` writes nothing while pinned. `unpin()` keeps the current mode and
  restarts the controller from it with fresh timers, so unpinning never jumps modes; the
  controller leaves it only by its own rules.
* `record()` is a WATCH/MULTI transaction that checks the evaluator lock's token and the
  pin, so a stale evaluator or a concurrent pin can never be overwritten.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import redis
from redis.client import Pipeline

from sidecar.backend.connection import translate
from sidecar.backend.keys import KeySchema
from sidecar.errors import BackendUnavailable
from sidecar.isotime import iso
from sidecar.mode.controller import MODES, SINGLE, ControllerState, Decision, Signals
from sidecar.mode.lock import as_text

log = logging.getLogger("sidecar.mode.store")

HISTORY_SIZE = 50
CACHE_SECONDS = 0.5


@dataclass(frozen=True)
class ModeView:
    """The effective mode as gateways see it; `source` is redis, default, fallback or local."""

    mode: str
    reason: str
    since: float
    pinned: bool = False
    pinned_by: str | None = None
    source: str = "redis"

    def to_dict(self) -> dict[str, Any]:
        """The view as JSON: since as ISO-8601."""
        return {
            "mode": self.mode,
            "pinned": self.pinned,
            "pinnedBy": self.pinned_by,
            "reason": self.reason,
            "since": iso(self.since) if self.since else None,
            "source": self.source,
        }


DEFAULT_VIEW = ModeView(
    SINGLE, "no decision yet: single mode, the ADR-001 default", 0.0, source="default"
)
FALLBACK_VIEW = ModeView(
    SINGLE, "Redis unreachable: single mode until it is back", 0.0, source="fallback"
)


def configured_view(configured: str) -> ModeView:
    """The view SIDECAR_MODE implies before anything is stored: a config pin, or the default."""
    if configured not in MODES:
        return DEFAULT_VIEW
    reason = f"SIDECAR_MODE={configured}"
    return ModeView(configured, reason, 0.0, pinned=True, pinned_by="config", source="config")


def parse_view(fields: dict, empty: ModeView = DEFAULT_VIEW) -> ModeView:
    """A ModeView from the `sidecar:mode` hash (`empty` when there is none)."""
    data = {as_text(k): as_text(v) for k, v in fields.items()}
    if data.get("mode") not in MODES:
        return empty
    return ModeView(
        mode=str(data["mode"]),
        reason=data.get("reason") or "",
        since=float(data.get("since") or 0.0),
        pinned=data.get("pinned") == "1",
        pinned_by=data.get("pinned_by") or None,
    )


def history_entry(at: float, before: str, after: str, reason: str, pinned: bool, by: str) -> str:
    """One JSON history entry."""
    entry = {"at": iso(at), "from": before, "to": after, "reason": reason, "pinned": pinned}
    return json.dumps({**entry, "by": by})


def decision_entry(decision: Decision, state: ControllerState) -> str:
    """The history entry of a switch the controller decided."""
    return history_entry(
        state.since, decision.previous, decision.mode, decision.reason, False, "controller"
    )


class ModeStore:
    """The mode in Redis. Parameters: `client`, `cache_seconds` (current()'s cache),
    `history_size` (switches kept), `clock` (unix seconds, for since and history),
    `configured` (SIDECAR_MODE: the mode while Redis holds none, e.g. after losing its data)."""

    def __init__(
        self,
        client: redis.Redis,
        keys: KeySchema,
        cache_seconds: float = CACHE_SECONDS,
        history_size: int = HISTORY_SIZE,
        clock: Callable[[], float] = time.time,
        configured: str = "auto",
    ) -> None:
        self.client, self.cache_seconds, self.keys = client, cache_seconds, keys
        self.empty_view = configured_view(configured)
        self.history_size, self.clock = history_size, clock
        self._cached: tuple[float, ModeView] | None = None
        self._refreshing = threading.Lock()
        self._failing = False

    def current(self) -> ModeView:
        """The effective mode, from a cache at most `cache_seconds` old; never raises."""
        cached = self._cached
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
        if not self._refreshing.acquire(blocking=cached is None):
            return cached[1] if cached is not None else FALLBACK_VIEW
        try:
            view = self._read_or_fallback()
            self._cached = (time.monotonic() + self.cache_seconds, view)
            return view
        finally:
            self._refreshing.release()

    def peek(self) -> ModeView | None:
        """The cached view while it is fresh, else None; never waits (the event loop's read:
        on None it calls current() in a worker thread)."""
        cached = self._cached
        return cached[1] if cached is not None and time.monotonic() < cached[0] else None

    def invalidate(self) -> None:
        """Forget the cached view, so the next current() reads Redis."""
        self._cached = None

    def read(self) -> ModeView:
        """The effective mode, straight from Redis; BackendUnavailable when unreachable."""
        with translate():
            return parse_view(self.client.hgetall(self.keys.mode), self.empty_view)

    def pin(self, mode: str, by: str = "operator", reason: str | None = None) -> ModeView:
        """Pin `mode` ('single' or 'queue') for every gateway until unpin()."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        why = reason or f"pinned to {mode} by {by}"

        def pin_it(pipe: Pipeline) -> ModeView:
            """Inside WATCH: write the pinned view and its history entry."""
            before, now = parse_view(pipe.hgetall(self.keys.mode), self.empty_view), self.clock()
            stored = before.source not in ("default", "config")
            since = before.since if before.mode == mode and stored else now
            after = ModeView(mode, why, since, pinned=True, pinned_by=by)
            pipe.multi()
            self._write_view(pipe, after)
            self._push_history(pipe, history_entry(now, before.mode, mode, why, True, by))
            return after

        return self._transaction(pin_it, self.keys.mode)

    def unpin(self, by: str = "operator") -> ModeView:
        """Let the controller decide again, starting from the current mode."""

        def unpin_it(pipe: Pipeline) -> ModeView:
            """Inside WATCH: lift the pin and restart the controller from the current mode."""
            before, now = parse_view(pipe.hgetall(self.keys.mode), self.empty_view), self.clock()
            if not before.pinned:
                return before
            why = f"unpinned by {by}: automatic switching continues from {before.mode}"
            after = replace(before, reason=why, pinned=False, pinned_by=None)
            state = ControllerState(mode=before.mode, reason=why, since=before.since)
            pipe.multi()
            self._write_view(pipe, after)
            pipe.set(self.keys.mode_controller, json.dumps(state.to_dict()))
            self._push_history(pipe, history_entry(now, before.mode, before.mode, why, False, by))
            return after

        return self._transaction(unpin_it, self.keys.mode)

    def apply_configured(self, configured: str) -> ModeView:
        """Apply SIDECAR_MODE at start: pin single/queue; 'auto' lifts a pin set by config."""
        view = self.read()
        if configured in MODES:
            stored = view.source != "config"  # "config": nothing in Redis yet, only the default
            if stored and view.pinned and view.pinned_by == "config" and view.mode == configured:
                return view
            return self.pin(configured, by="config", reason=f"SIDECAR_MODE={configured}")
        if view.pinned and view.pinned_by == "config":
            return self.unpin(by="config")
        return view

    def controller_state(self) -> ControllerState | None:
        """The controller state the last evaluator saved; None when there is none."""
        with translate():
            raw = self.client.get(self.keys.mode_controller)
        if raw is None:
            return None
        try:
            return ControllerState.from_dict(json.loads(raw))
        except (ValueError, TypeError, AttributeError):
            log.warning("ignoring an unreadable controller state in %s", self.keys.mode_controller)
            return None

    def record(self, decision: Decision, state: ControllerState, token: str | None) -> bool:
        """Save the controller's state and, on a switch, the new mode and a history entry.

        Writes nothing and returns False when the mode is pinned or `token` no longer holds
        the evaluator lock (None skips the lock check)."""

        def record_it(pipe: Pipeline) -> bool:
            """Inside WATCH: write only while holding the lock and not pinned."""
            if token is not None and as_text(pipe.get(self.keys.mode_evaluator)) != token:
                return False
            before = parse_view(pipe.hgetall(self.keys.mode), self.empty_view)
            if before.pinned:
                return False
            pipe.multi()
            pipe.set(self.keys.mode_controller, json.dumps(state.to_dict()))
            if decision.changed or before.source == "default" or before.mode != decision.mode:
                self._write_view(pipe, ModeView(decision.mode, decision.reason, state.since))
            if decision.changed:
                entry = decision_entry(decision, state)
                self._push_history(pipe, entry)
            return True

        return self._transaction(record_it, self.keys.mode_evaluator, self.keys.mode)

    def save_signals(self, signals: Signals, errors: dict[str, str] | None = None) -> None:
        """Keep the evaluator's last sample, for /v1/mode and `status` on any gateway."""
        data = {"at": self.clock(), "values": signals.to_dict(), "errors": errors or {}}
        with translate():
            self.client.set(self.keys.mode_signals, json.dumps(data))

    def last_signals(self) -> dict[str, Any] | None:
        """The last sample saved: {"at", "values", "errors"}; None before the first one."""
        with translate():
            raw = self.client.get(self.keys.mode_signals)
        return json.loads(raw) if raw else None

    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Switches, pins and unpins, newest first."""
        end = (limit or self.history_size) - 1
        with translate():
            return [json.loads(raw) for raw in self.client.lrange(self.keys.mode_history, 0, end)]

    def _read_or_fallback(self) -> ModeView:
        """read(), or FALLBACK_VIEW (logged when it starts and stops) when Redis fails."""
        try:
            view = self.read()
        except BackendUnavailable as exc:
            if not self._failing:
                log.warning("mode unreadable, following single mode: %s", exc)
            self._failing = True
            return FALLBACK_VIEW
        if self._failing:
            log.info("mode readable again: %s", view.mode)
        self._failing = False
        return view

    def _write_view(self, pipe: Pipeline, view: ModeView) -> None:
        """Queue the HSET of `view` on `pipe`."""
        fields = {"mode": view.mode, "reason": view.reason, "since": repr(view.since)}
        pins = {"pinned": "1" if view.pinned else "0", "pinned_by": view.pinned_by or ""}
        pipe.hset(self.keys.mode, mapping={**fields, **pins})

    def _push_history(self, pipe: Pipeline, entry: str) -> None:
        """Queue a history entry and the trim that caps the list."""
        pipe.lpush(self.keys.mode_history, entry)
        pipe.ltrim(self.keys.mode_history, 0, self.history_size - 1)

    def _transaction(self, func: Callable[[Pipeline], Any], *keys: str) -> Any:
        """Run `func` in a WATCH/MULTI transaction on `keys`; invalidate the cache after."""
        try:
            with translate():
                return self.client.transaction(func, *keys, value_from_callable=True)
        finally:
            self.invalidate()
