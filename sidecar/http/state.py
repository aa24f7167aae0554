"""What the request handlers share: `SidecarState`, built by the app factory (sidecar/app.py)
and kept in `app.extensions["sidecar"]`; `current_state()` reads it in a request."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from sidecar.ingress import Ingress
from sidecar.mode.counters import SignalCounters
from sidecar.mode.local_store import AnyStore
from sidecar.queues.durability import DurabilityProbe
from sidecar.queues.intake import Intake
from sidecar.routes import Routes
from sidecar.settings import Settings
from sidecar.upstream import Upstream

EXTENSION = "sidecar"


@dataclass
class SidecarState:
    """The gateway's parts: `intake` and `durability` are None without Redis; `counters`
    are this process's signal counters (recorded per webhook, flushed by the monitor)."""

    settings: Settings
    upstream: Upstream
    intake: Intake | None
    store: AnyStore
    routes: Routes
    ingress: Ingress
    durability: DurabilityProbe | None
    counters: SignalCounters

    def current_mode(self) -> str:
        """The mode webhooks are handled in right now ('single' or 'queue'): the shared mode
        every gateway follows (cached for half a second), single without Redis."""
        return self.store.current().mode

    def redis_health(self) -> tuple[bool, str]:
        """(ok, detail) for Redis."""
        return self.intake.health() if self.intake else (False, "not configured")


def install_state(app: Flask, state: SidecarState) -> None:
    """Keep `state` in `app` for the request handlers."""
    app.extensions[EXTENSION] = state


def state_of(app: Flask) -> SidecarState:
    """The state kept in `app`."""
    return app.extensions[EXTENSION]


def current_state() -> SidecarState:
    """The state of the app handling the current request."""
    return state_of(current_app)
