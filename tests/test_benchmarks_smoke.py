"""The benchmark scripts run end to end with tiny counts, so they cannot rot unnoticed.
(Their figures are not checked here: timing belongs to the benchmarks, not to tests.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.processes import ROOT, sidecar_env


@pytest.mark.parametrize("script", ["bench_passthrough.py", "bench_queue.py"])
def test_benchmark_smoke_mode_runs_and_writes_its_figures(script: str, tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), "--smoke", "--json", str(out)],
        env=sidecar_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    figures = json.loads(out.read_text())
    assert figures  # a non-empty report
