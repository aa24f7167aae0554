"""The benchmark harness runs end to end with tiny counts, so it cannot rot unnoticed.
(Its figures are not judged here: timing belongs to the benchmarks, not to tests — but every
scenario must report its rows, and the correctness rows must hold.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sidecar.bench.options import SCENARIOS
from sidecar.bench.report import Outcome, Row, render_table
from sidecar.bench.stats import percentile
from sidecar.harness.sidecar_processes import ROOT, sidecar_env


def run_bench(*args: str, timeout: float = 390) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), *args],
        env=sidecar_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def no_nan(constant: str) -> None:
    pytest.fail(f"the JSON holds {constant}: not strict JSON")


@pytest.mark.timeout(420)  # ten scenarios, on a shared machine
def test_smoke_mode_runs_every_scenario_and_writes_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    result = run_bench("--smoke", "--json", str(out))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    figures = json.loads(out.read_text(), parse_constant=no_nan)  # strict JSON
    assert list(figures["scenarios"]) == list(SCENARIOS)
    for name, scenario in figures["scenarios"].items():
        assert scenario["rows"], name
        assert name in result.stdout
    rows = {row["measure"]: row for s in figures["scenarios"].values() for row in s["rows"]}
    # What must hold at any size: nothing lost or duplicated, in queue mode or across a switch.
    for measure in (
        "delivered exactly once",
        "lost or refused across the switch",
        "duplicated across the switch",
        "accepted then lost / duplicated",
    ):
        assert rows[measure]["verdict"] == "met", rows[measure]
    assert "[6/10] switch" in result.stderr  # the progress display
    assert "[7/10] day" in result.stderr
    # The simulated day: no flapping, every sustained crossing answered within an interval.
    for measure in (
        "shortest time between two switches (no flapping)",
        "sustained crossing to switch",
        "switches in the store's history",
    ):
        assert rows[measure]["verdict"] == "met", rows[measure]
    day = figures["scenarios"]["day"]["figures"]
    assert day["naive"]["switches"] > day["real"]["switches"] > 0
    assert "[10/10] backpressure" in result.stderr


@pytest.mark.timeout(180)
def test_smoke_mode_runs_the_crowd_scenarios_when_named(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    result = run_bench("--smoke", "-s", "slow-n8n", "-s", "slow-senders", "--json", str(out))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    scenarios = json.loads(out.read_text(), parse_constant=no_nan)["scenarios"]
    assert list(scenarios) == ["slow-n8n", "slow-senders"]
    slow_n8n = scenarios["slow-n8n"]["figures"]
    for side in ("direct", "sidecar"):
        assert slow_n8n[side]["answered"] > 0 and slow_n8n[side]["no_answer"] == 0, side
        assert slow_n8n[side]["p50_ms"] >= 1000, side  # the stand-in answered after 1 s
    assert slow_n8n["sidecar"]["open_connections"] > 0
    assert 0 < slow_n8n["sidecar"]["cpu_us_per_request"] < 1e6  # the gateway's, per answer
    assert slow_n8n["direct"]["cpu_us_per_request"] is None
    senders = scenarios["slow-senders"]["figures"]
    for side in ("direct", "sidecar"):
        assert senders[side]["quiet"]["no_answer"] == 0, side
        opened = {kind: figures["opened"] for kind, figures in senders[side]["tricklers"].items()}
        assert opened == {"headers": 10, "body": 10}, side
    measures = [row["measure"] for s in scenarios.values() for row in s["rows"]]
    assert "headers tricklers closed by the server" in measures
    assert "slow-n8n" in result.stdout and "slow-senders" in result.stdout


def test_one_scenario_can_be_chosen_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "bench", "--smoke", "-s", "memory", "--json", str(out)],
        env=sidecar_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert list(json.loads(out.read_text())["scenarios"]) == ["memory"]


@pytest.mark.parametrize(
    "args",
    [
        ["--scenario", "nope"],
        ["--jobs", "1"],
        ["--rate", "0"],
        ["--senders", "x"],
        ["--crowd", "1"],
        ["-s", "switch", "--rate", "5"],  # could never cross the switch's threshold
    ],
)
def test_bad_options_are_one_clear_line_and_exit_2(args: list[str]) -> None:
    result = run_bench(*args, timeout=30)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Error:" in result.stderr


def test_the_table_aligns_columns_and_names_each_scenario_once() -> None:
    outcomes = [
        Outcome(
            "ingest", [Row("rate", "500/s", "1,000/s", 0.5, ">= 3,000/s", False), Row("x", "1")]
        ),
        Outcome("memory", [Row("bytes", "551 B", target="<= 1,024 B", met=True)]),
    ]
    lines = render_table(outcomes).splitlines()
    assert lines[2].startswith("ingest ") and "0.50x" in lines[2] and lines[2].endswith("MISSED")
    assert lines[3].startswith(" " * len("ingest"))
    assert lines[4].startswith("memory") and lines[4].endswith("met")
    assert lines[2].index("500/s") == lines[4].index("551 B")


def test_percentile_is_nearest_rank() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 0.99) == 99.0
    assert percentile(samples, 0.5) == 50.0
    assert percentile([7.0], 0.99) == 7.0
