"""The RQ entry point of typed jobs, kept at the dotted name every typed job hash stores
(`RUN_FUNC`, docs/typed-jobs.md): a plain `rq worker` imports `run` from here.

The one module of sidecar.typed that reaches up to the worker (sidecar/worker/typed_jobs.py
runs the job); nothing in the sidecar imports it, and the rest of the package is pure:
`requests` (what a job sends to n8n) and `follow_ups` (what follows it, as data).
"""

from __future__ import annotations

from sidecar.worker.typed_jobs import run

__all__ = ["run"]
