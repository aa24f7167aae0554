"""What the harness shows while it runs, on stderr (stdout carries the table).

On a terminal a live line is redrawn five times a second — phase, done/total, rate, time —
otherwise (a log, CI) a plain line at every quarter of the work.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

REDRAW_SECONDS = 0.2


class Counter:
    """Work done so far, bumped by many sender threads."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0
        self._lock = threading.Lock()

    def add(self, count: int = 1) -> None:
        """Count `count` more units done."""
        with self._lock:
            self.done += count

    def set(self, done: int) -> None:
        """Set the work done (when it is read off elsewhere, e.g. the upstream's score)."""
        with self._lock:
            self.done = done


class Progress:
    """Phase lines and live counters. Parameters: `stream`, `live` (redraw in place)."""

    def __init__(self, stream: TextIO = sys.stderr, live: bool | None = None) -> None:
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self.step, self.steps = 0, 0

    def plan(self, steps: int) -> None:
        """Announce how many scenarios will run."""
        self.step, self.steps = 0, steps

    def scenario(self, name: str) -> None:
        """A new scenario starts."""
        self.step += 1
        self.say(f"[{self.step}/{self.steps}] {name}")

    def say(self, message: str) -> None:
        """One line."""
        print(f"bench: {message}", file=self.stream, flush=True)

    @contextmanager
    def counting(self, what: str, total: int, unit: str) -> Iterator[Counter]:
        """Show `what`: done/total `unit` while the block runs; yields the Counter to bump."""
        counter, stop = Counter(total), threading.Event()
        started = time.monotonic()
        ticker = threading.Thread(
            target=self._tick, args=(what, unit, counter, started, stop), daemon=True
        )
        ticker.start()
        try:
            yield counter
        finally:
            stop.set()
            ticker.join()
            self._draw(what, unit, counter, started, final=True)

    def _tick(
        self, what: str, unit: str, counter: Counter, started: float, stop: threading.Event
    ) -> None:
        shown_quarter = 0
        while not stop.wait(REDRAW_SECONDS):
            if self.live:
                self._draw(what, unit, counter, started)
                continue
            quarter = 4 * counter.done // max(1, counter.total)
            if 0 < quarter < 4 and quarter > shown_quarter:
                shown_quarter = quarter
                self._draw(what, unit, counter, started)

    def _draw(
        self, what: str, unit: str, counter: Counter, started: float, final: bool = False
    ) -> None:
        elapsed = time.monotonic() - started
        rate = counter.done / elapsed if elapsed > 0 else 0.0
        line = (
            f"bench:   {what}: {counter.done:,}/{counter.total:,} {unit}"
            f"  {rate:,.0f}/s  {elapsed:.1f} s"
        )
        if self.live:
            end = "\n" if final else ""
            print(f"\r\x1b[K{line}", end=end, file=self.stream, flush=True)
        else:
            print(line, file=self.stream, flush=True)
