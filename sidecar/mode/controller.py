"""The mode controller: a pure state machine from sampled signals to single ⇄ queue.

No Redis, no Flask, no clock of its own: `Controller(thresholds, clock, state)` is fed one
`Signals` sample at a time and answers a `Decision`. Storage (store.py) and alerting
(alerts.py) wrap it; pinning is theirs too — the controller only runs for SIDECAR_MODE=auto.

Per signal, two timers (in ControllerState, so another gateway can continue them):

* `over_since`  — since when the value has been > threshold without a break;
* `under_since` — since when it has been < recovery_ratio x threshold without a break.

Rules:

* single → queue when any signal *observed in this sample* has been over its threshold for
  `sustain_seconds`. A sample at or below the threshold restarts the timer, so brief
  spikes and noise around the threshold never switch.
* queue → single when every observed signal has been under ratio x threshold for
  `cooldown_seconds` and the queues are drained. Between ratio x threshold and the
  threshold a signal is neither over nor recovered (hysteresis): in queue mode noise there
  keeps queue mode, so the mode cannot flap.
* A blind signal (`Signals.blind`, e.g. execution time measured as answer time) can
  escalate but is never evidence of calm: it is left out of the recovery rule.
* A failed source (value None) is no evidence: it leaves its timers as they were, never
  triggers a switch and does not block recovery — unless that signal's crossing is still
  latched (it went silent while over, e.g. n8n down with its memory over 80 %): silence
  after a crossing is not calm, so queue mode stays until the signal is seen cleared. At
  least one signal must be observed to recover, so a sampler that sees nothing never
  switches back to single.
* Without a usable queue (no Redis) the controller stays single and emits
  `queue_unavailable` once per crossing episode instead of switching.

Events: `threshold_crossed` once a signal has been over for sustain_seconds (a brief spike
raises nothing); `threshold_cleared` once that signal has then been under ratio x threshold
for cooldown_seconds; `mode_changed` on every switch; `queue_unavailable` as above.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sidecar.alerts import MODE_CHANGED, QUEUE_UNAVAILABLE, THRESHOLD_CLEARED, THRESHOLD_CROSSED
from sidecar.settings import Settings

SINGLE, QUEUE = "single", "queue"
MODES = (SINGLE, QUEUE)
SIGNAL_NAMES = (
    "webhooks_per_hour",
    "exec_p95_seconds",
    "memory_percent",
    "eventloop_lag_seconds",  # n8n's own overload signal, beyond ADR-001 (ADR-004)
)


Clock = Callable[[], float]


@dataclass(frozen=True)
class Thresholds:
    """ADR-001 thresholds and the switching hysteresis (SPEC §3), in seconds and ratios."""

    webhooks_per_hour: float = 500
    exec_seconds: float = 30
    memory_percent: float = 80
    sustain_seconds: float = 300
    cooldown_seconds: float = 1800
    recovery_ratio: float = 0.7
    eventloop_lag_seconds: float = 0.5  # n8n's p99 event-loop lag, beyond ADR-001

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        """The thresholds of a `sidecar.settings.Settings`."""
        return cls(
            webhooks_per_hour=settings.threshold_webhooks_per_hour,
            exec_seconds=settings.threshold_exec_seconds,
            memory_percent=settings.threshold_memory_percent,
            sustain_seconds=settings.sustain_seconds,
            cooldown_seconds=settings.cooldown_seconds,
            recovery_ratio=settings.recovery_ratio,
            eventloop_lag_seconds=settings.threshold_eventloop_lag_seconds,
        )

    def limit(self, signal: str) -> float:
        """The threshold of `signal` (one of SIGNAL_NAMES)."""
        return self.limits()[signal]

    def limits(self) -> dict[str, float]:
        """Every signal's threshold, keyed by signal name."""
        return {
            "webhooks_per_hour": self.webhooks_per_hour,
            "exec_p95_seconds": self.exec_seconds,
            "memory_percent": self.memory_percent,
            "eventloop_lag_seconds": self.eventloop_lag_seconds,
        }

    def recovery_limit(self, signal: str) -> float:
        """The level `signal` must stay under before queue mode may end."""
        return self.limit(signal) * self.recovery_ratio


@dataclass(frozen=True)
class Signals:
    """One sample of the signals; None where the source failed or had no data. `blind`
    names signals whose source cannot see what they mean (a lower bound at best): their
    value may show an overload, but a low one proves nothing, so it never allows recovery."""

    webhooks_per_hour: float | None = None
    exec_p95_seconds: float | None = None
    memory_percent: float | None = None
    eventloop_lag_seconds: float | None = None
    blind: frozenset[str] = frozenset()

    def value(self, signal: str) -> float | None:
        """The sampled value of `signal`."""
        return getattr(self, signal)

    def to_dict(self) -> dict[str, float | None]:
        """The sample as a JSON-ready dict."""
        return {name: self.value(name) for name in SIGNAL_NAMES}

    def reportable(self, thresholds: Thresholds) -> Signals:
        """The sample as it may be shown: a blind value at or under its threshold proves
        nothing, so it becomes None (unknown) instead of a reassuring number."""
        hidden = {
            name: None
            for name in self.blind
            if (value := self.value(name)) is not None and value <= thresholds.limit(name)
        }
        return replace(self, **hidden)


@dataclass
class SignalTrack:
    """Timers of one signal; `crossed` is latched from threshold_crossed to _cleared."""

    over_since: float | None = None
    under_since: float | None = None
    crossed: bool = False


def _keep(since: float | None, now: float) -> float:
    """A running timer keeps its start; a stopped one starts now."""
    return now if since is None else since


def _fresh_tracks() -> dict[str, SignalTrack]:
    """One empty track per signal."""
    return {name: SignalTrack() for name in SIGNAL_NAMES}


@dataclass
class ControllerState:
    """Everything the controller remembers; JSON-serialisable so it can live in Redis."""

    mode: str = SINGLE
    reason: str = "start: single mode until a threshold is crossed"
    since: float = 0.0
    tracks: dict[str, SignalTrack] = field(default_factory=_fresh_tracks)
    queue_blocked: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The state as a JSON-ready dict."""
        return {
            "mode": self.mode,
            "reason": self.reason,
            "since": self.since,
            "queue_blocked": self.queue_blocked,
            "signals": {name: vars(track).copy() for name, track in self.tracks.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ControllerState:
        """Rebuild a state written by `to_dict` (unknown keys ignored, missing ones fresh)."""
        tracks = _fresh_tracks()
        for name, saved in (data.get("signals") or {}).items():
            if name in tracks:
                tracks[name] = SignalTrack(
                    over_since=saved.get("over_since"),
                    under_since=saved.get("under_since"),
                    crossed=bool(saved.get("crossed", False)),
                )
        mode = data.get("mode", SINGLE)
        return cls(
            mode=mode if mode in MODES else SINGLE,
            reason=str(data.get("reason", "")),
            since=float(data.get("since", 0.0)),
            tracks=tracks,
            queue_blocked=bool(data.get("queue_blocked", False)),
        )


@dataclass(frozen=True)
class Event:
    """Something the controller noticed; `signal` is None for mode-wide events."""

    kind: str
    message: str
    signal: str | None = None
    value: float | None = None
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The event as a JSON-ready dict."""
        return vars(self).copy()


@dataclass(frozen=True)
class Decision:
    """The outcome of one observation: the mode to be in, and what happened on the way."""

    mode: str
    changed: bool
    reason: str
    previous: str
    events: list[Event] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The decision as a JSON-ready dict."""
        data = {k: v for k, v in vars(self).items() if k != "events"}
        return {**data, "events": [event.to_dict() for event in self.events]}


class Controller:
    """Decides single ⇄ queue. Parameters: `thresholds`, `clock` (returns seconds; wall
    time when the state is shared between hosts), `state` (to continue; fresh when None)."""

    def __init__(
        self, thresholds: Thresholds, clock: Clock, state: ControllerState | None = None
    ) -> None:
        self.thresholds, self.clock = thresholds, clock
        self.state = state if state is not None else ControllerState(since=clock())

    def observe(
        self, signals: Signals, queues_drained: bool = True, queue_available: bool = True
    ) -> Decision:
        """Take one sample into account and return the resulting decision."""
        now, previous = self.clock(), self.state.mode
        events: list[Event] = []
        for name in SIGNAL_NAMES:
            events += self._track(name, signals.value(name), now)
        if not any(track.crossed for track in self.state.tracks.values()):
            self.state.queue_blocked = False
        if self.state.mode == SINGLE:
            events += self._escalate(signals, now, queue_available)
        else:
            events += self._recover(signals, now, queues_drained)
        return Decision(
            mode=self.state.mode,
            changed=self.state.mode != previous,
            reason=self.state.reason,
            previous=previous,
            events=events,
        )

    def _track(self, name: str, value: float | None, now: float) -> list[Event]:
        """Update the timers of one signal; a latch event when it crosses or clears."""
        if value is None:
            return []
        track, limit = self.state.tracks[name], self.thresholds.limit(name)
        low = self.thresholds.recovery_limit(name)
        track.over_since = _keep(track.over_since, now) if value > limit else None
        track.under_since = _keep(track.under_since, now) if value < low else None
        if not track.crossed and self._held(track.over_since, now, "sustain"):
            track.crossed = True
            text = f"{name} {value:g} over {limit:g} for {self._for(track.over_since, now)}"
            return [Event(THRESHOLD_CROSSED, text, name, value, limit)]
        if track.crossed and self._held(track.under_since, now, "cooldown"):
            track.crossed = False
            text = f"{name} {value:g} under {low:g} for {self._for(track.under_since, now)}"
            return [Event(THRESHOLD_CLEARED, text, name, value, limit)]
        return []

    def _escalate(self, signals: Signals, now: float, queue_available: bool) -> list[Event]:
        """In single mode: switch to queue when an observed signal has been over long enough."""
        hot = [
            name
            for name in SIGNAL_NAMES
            if signals.value(name) is not None
            and self._held(self.state.tracks[name].over_since, now, "sustain")
        ]
        if not hot:
            return []
        name, value = hot[0], signals.value(hot[0])
        lasted = self._for(self.state.tracks[name].over_since, now)
        why = f"{name} {value:g} over {self.thresholds.limit(name):g} for {lasted}"
        if not queue_available:
            if self.state.queue_blocked:
                return []
            self.state.queue_blocked = True
            text = f"{why}, but queue mode needs Redis: staying in single mode"
            return [Event(QUEUE_UNAVAILABLE, text, name, value, self.thresholds.limit(name))]
        self.state.queue_blocked = False
        return [self._switch(QUEUE, why, now)]

    def _recover(self, signals: Signals, now: float, queues_drained: bool) -> list[Event]:
        """In queue mode: back to single once every observed signal has cooled down."""
        observed = [
            name
            for name in SIGNAL_NAMES
            if signals.value(name) is not None and name not in signals.blind
        ]
        if not observed or not queues_drained:
            return []
        silent = [
            n for n in SIGNAL_NAMES if signals.value(n) is None and self.state.tracks[n].crossed
        ]
        if silent:
            return []
        if not all(self._held(self.state.tracks[n].under_since, now, "cooldown") for n in observed):
            return []
        ratio, cooldown = self.thresholds.recovery_ratio, self.thresholds.cooldown_seconds
        why = (
            f"every signal under {ratio:.0%} of its threshold for {cooldown:g} s "
            "and the queues are drained"
        )
        return [self._switch(SINGLE, why, now)]

    def _switch(self, mode: str, why: str, now: float) -> Event:
        """Enter `mode` for reason `why`; the mode_changed event."""
        previous = self.state.mode
        self.state.mode, self.state.reason, self.state.since = mode, why, now
        return Event(MODE_CHANGED, f"{previous} → {mode}: {why}")

    def _held(self, since: float | None, now: float, which: str) -> bool:
        """True when a timer started at `since` has run for the sustain or cooldown period."""
        period = (
            self.thresholds.sustain_seconds
            if which == "sustain"
            else self.thresholds.cooldown_seconds
        )
        return since is not None and now - since >= period

    @staticmethod
    def _for(since: float | None, now: float) -> str:
        """'N s' — how long a timer has been running."""
        return f"{now - (since if since is not None else now):.0f} s"
