"""The benchmark's error."""

from __future__ import annotations

from sidecar.harness.errors import HarnessError


class BenchError(HarnessError):
    """A one-line reason the benchmark cannot go on."""
