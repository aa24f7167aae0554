"""The one error of the harness."""

from __future__ import annotations


class HarnessError(RuntimeError):
    """A one-line reason a service started for a test or benchmark cannot be used."""
