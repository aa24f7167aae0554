"""A real browser for page tests: the system Chromium driven by Playwright, and a gateway app
served on a free loopback port in a thread.

Playwright cannot download its own browser here; it launches Debian's `chromium`
(/usr/bin/chromium, installed by .ci/run). Every request the page makes and every console
message are recorded, so a test can check that nothing left this origin.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import Flask
from werkzeug.serving import make_server

from sidecar.harness.ports import free_port

CHROMIUM = os.environ.get("SIDECAR_CHROMIUM", "/usr/bin/chromium")
TIMEOUT_MS = 15_000


def chromium_path() -> str | None:
    """The Chromium binary, or None when it is not installed."""
    return CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 (threaded) while inside; yields its base URL."""
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(10)


@dataclass
class Recorder:
    """Everything the page did: request URLs, console errors, page errors."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def attach(self, page) -> None:
        page.on("request", lambda r: self.requests.append(r.url))
        page.on(
            "console",
            lambda m: self.console_errors.append(m.text) if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))

    def foreign(self, origin: str) -> list[str]:
        """Requests to anything but `origin` (data: URLs stay in the page)."""
        return [u for u in self.requests if not (u.startswith(origin + "/") or u == origin)]


@contextmanager
def browser_page(
    width: int = 1280, height: int = 900, dark: bool = False
) -> Iterator[tuple[object, Recorder]]:
    """A fresh Chromium page (and its recorder); closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            context = browser.new_context(
                viewport={"width": width, "height": height},
                color_scheme="dark" if dark else "light",
            )
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            recorder = Recorder()
            recorder.attach(page)
            yield page, recorder
        finally:
            browser.close()
