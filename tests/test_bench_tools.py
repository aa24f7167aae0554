"""The bench's outside tools: wrk's command line and summary, finding (not installing) wrk
and bullmq, and the scripts they run shipping as package data."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from sidecar.bench import tools
from sidecar.bench.errors import BenchError
from sidecar.bench.seed_stack import SCRIPTS
from sidecar.bench.wrk import SCRIPT, WrkLoad, parse_summary
from sidecar.harness.sidecar_processes import ROOT

SUMMARY = (
    'WRK_JSON {"requests":15000,"duration_us":2000000,"p50_us":383.0,"p99_us":8792.0,'
    '"max_us":22092.0,"connect_errors":1,"read_errors":2,"write_errors":0,"timeouts":3,'
    '"non2xx":4}'
)


def test_the_summary_line_becomes_rates_and_milliseconds() -> None:
    run = parse_summary(f"Running 2s test\n{SUMMARY}\nRequests/sec: 7500\n")
    assert run.requests == 15000 and run.seconds == 2.0 and run.rate_per_s == 7500.0
    assert (run.p50_ms, run.p99_ms, run.max_ms) == (0.383, 8.792, 22.092)
    assert (run.errors, run.non2xx) == (6, 4)


def test_output_without_a_summary_is_a_bench_error() -> None:
    with pytest.raises(BenchError, match="no summary"):
        parse_summary("unable to connect to 127.0.0.1:1 Connection refused")


def test_unique_runs_get_a_fresh_nonce_and_never_more_threads_than_connections() -> None:
    load = WrkLoad(connections=1, seconds=0, unique=True)
    first, second = load.argv(Path("/usr/bin/wrk"), 8080), load.argv(Path("/usr/bin/wrk"), 8080)
    assert first[1:4] == ["-t1", "-c1", "-d1s"]
    assert first[-2] == "unique" and first[-1] != second[-1]
    assert "http://127.0.0.1:8080/webhook/bench" in first
    assert WrkLoad(8, 5, unique=False).argv(Path("wrk"), 1)[-2:] == ["--", "same"]


def test_missing_tools_are_not_installed_when_installing_is_not_allowed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    said: list[str] = []
    monkeypatch.setattr(tools.shutil, "which", lambda name: None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert tools.bullmq_dir() == tmp_path / "n8n-sidecar" / "bench-node"
    wrk = tools.find("wrk", False, said.append)
    assert wrk.path is None and "smoke" in wrk.note
    assert tools.find("bullmq", True, said.append) == tools.Found(None, "node not found")
    assert said == []


def test_bullmq_in_the_cache_is_found_without_npm(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tools.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    package = tools.bullmq_dir() / "node_modules" / "bullmq" / "package.json"
    package.parent.mkdir(parents=True)
    package.write_text("{}")
    found = tools.find_bullmq(False, lambda line: None)
    assert found.path == package.parent.parent


def test_the_wrk_and_node_scripts_ship_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["sidecar"]
    shipped = {path for pattern in patterns for path in (ROOT / "sidecar").glob(pattern)}
    assert SCRIPT in shipped
    scripts = set(SCRIPTS.glob("*.js"))
    assert {p.name for p in scripts} == {"ingest.js", "fill.js", "worker.js"}
    assert scripts <= shipped
