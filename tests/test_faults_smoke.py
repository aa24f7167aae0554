"""A bounded subset of `bench -s faults` in CI (smoke sizes, seconds each): workers killed
with -9, Redis down (and with n8n down too), a gateway terminated — nothing accepted is
lost, and with both backends down every sender is told to retry (503 + Retry-After).
Figures are not judged here (docs/reliability.md has them); the outcomes that must hold at
any size are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sidecar.harness.sidecar_processes import ROOT, sidecar_env

FAULTS = ("worker_kill", "redis_down", "gateway_sigterm")


def test_the_ci_faults_lose_nothing(tmp_path: Path) -> None:
    out = tmp_path / "faults.json"
    argv = [sys.executable, str(ROOT / "scripts" / "bench.py"), "-s", "faults", "--smoke"]
    argv += ["--workers", "1"]  # fewer processes to start: the faults are the same
    argv += [arg for name in FAULTS for arg in ("--fault", name)]
    result = subprocess.run(
        [*argv, "--json", str(out)],
        env=sidecar_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    faults = {
        f["fault"]: f
        for f in json.loads(out.read_text())["scenarios"]["faults"]["figures"]["faults"]
    }
    assert list(faults) == [
        "worker kill -9",
        "redis down 2 s",
        "redis and n8n down",
        "gateway SIGTERM",
    ]
    for name in ("worker kill -9", "redis down 2 s", "gateway SIGTERM"):
        figures = faults[name]
        assert figures["accepted"] > 0, name
        assert (figures["lost"], figures["delivered"]) == (0, figures["accepted"]), name
    assert faults["redis down 2 s"]["passed_through"] > 0  # the single-mode fallback served
    assert faults["gateway SIGTERM"]["no_answer_but_delivered"] == 0  # no reset in flight
    both = faults["redis and n8n down"]
    assert both["sent"] > 0
    assert both["refused_with_retry_after"] == both["sent"]


def test_every_listed_fault_has_its_module_and_every_module_is_listed() -> None:
    import importlib
    import pkgutil

    import sidecar.bench.faults as package
    from sidecar.bench.options import FAULTS as LISTED

    helpers = {"figures", "parts"}
    modules = {m.name for m in pkgutil.iter_modules(package.__path__)} - helpers
    assert set(LISTED) == modules
    assert all(callable(importlib.import_module(f"{package.__name__}.{n}").run) for n in LISTED)
