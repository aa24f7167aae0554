"""The benchmark's outside tools, found or installed once per machine: wrk (a C load
generator, Debian package) and bullmq (npm, for the seed stack's baseline, in a cache dir).
Each lookup says what it did or why the tool is missing, for the table and the progress."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

INSTALL_SECONDS = 300.0
BULLMQ = "bullmq@5"


@dataclass(frozen=True)
class Found:
    """A tool: its path (None when missing) and a note on how it was found or why not."""

    path: Path | None
    note: str


def cache_dir() -> Path:
    """Where the benchmark keeps what it installs: $XDG_CACHE_HOME or ~/.cache, n8n-sidecar."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "n8n-sidecar"


def bullmq_dir() -> Path:
    """The npm prefix the seed stack's bullmq is installed into."""
    return cache_dir() / "bench-node"


def quiet_run(argv: list[str], env: dict[str, str] | None = None) -> str:
    """Run `argv`; '' when it succeeded, else its last line of output (or why it could not)."""
    try:
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=INSTALL_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0:
        return ""
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"exit code {done.returncode}"


def apt_install(package: str) -> str:
    """`apt-get install -y PACKAGE` (after `apt-get update` when the first try fails);
    '' when installed, else why not."""
    if os.geteuid() != 0:
        return "not root, so not installed"
    if not shutil.which("apt-get"):
        return "no apt-get here"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=120", package]
    if not quiet_run(install, env):
        return ""
    failed = quiet_run(["apt-get", "update", "-q"], env)
    return failed or quiet_run(install, env)


def find_wrk(may_install: bool, say: Callable[[str], None]) -> Found:
    """wrk on PATH; installed with apt-get when missing and `may_install` (`say` tells)."""
    found = shutil.which("wrk")
    if found:
        return Found(Path(found), f"load generator: {found}")
    if not may_install:
        return Found(None, "wrk not installed (smoke runs do not install it)")
    say("wrk not found: apt-get install -y wrk")
    failed = apt_install("wrk")
    found = shutil.which("wrk")
    if failed or not found:
        return Found(None, f"wrk missing, apt-get install wrk failed: {failed or 'not on PATH'}")
    return Found(Path(found), f"load generator: {found} (installed now with apt-get)")


def find_bullmq(may_install: bool, say: Callable[[str], None]) -> Found:
    """node_modules holding bullmq in the cache dir; installed with npm when missing and
    `may_install` (`say` tells). The path is None without node or npm."""
    modules = bullmq_dir() / "node_modules"
    if not shutil.which("node"):
        return Found(None, "node not found")
    if (modules / "bullmq" / "package.json").exists():
        return Found(modules, f"seed stack: bullmq from {modules}")
    if not may_install:
        return Found(None, f"bullmq not in {modules} (smoke runs do not install it)")
    if not shutil.which("npm"):
        return Found(None, "npm not found, so bullmq could not be installed")
    say(f"bullmq not found: npm install --prefix {bullmq_dir()} {BULLMQ}")
    argv = ["npm", "install", "--prefix", str(bullmq_dir()), "--no-audit", "--no-fund", BULLMQ]
    failed = quiet_run(argv)
    if failed or not (modules / "bullmq").exists():
        return Found(None, f"npm install {BULLMQ} failed: {failed or 'not installed'}")
    return Found(modules, f"seed stack: bullmq installed now with npm into {modules}")


def find(name: str, may_install: bool, say: Callable[[str], None]) -> Found:
    """`find_wrk` or `find_bullmq` by name ("wrk", "bullmq")."""
    finder = {"wrk": find_wrk, "bullmq": find_bullmq}[name]
    return finder(may_install, say)
