"""hey, the compiled (Go) HTTP load generator of the slow-n8n scenario: found on PATH, or
installed with apt-get (Debian package `hey`) when missing and allowed; its summary read
into CrowdFigures."""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Callable

from sidecar.bench.crowd import BODY, HOST, CrowdFigures
from sidecar.bench.tools import apt_install

TOTAL = re.compile(r"^\s*Total:\s+([\d.]+) secs", re.MULTILINE)
SLOWEST = re.compile(r"^\s*Slowest:\s+([\d.]+) secs", re.MULTILINE)
PERCENT = re.compile(r"^\s*(\d+)% in ([\d.]+) secs", re.MULTILINE)
STATUS = re.compile(r"^\s*\[(\d{3})\]\s+(\d+) responses", re.MULTILINE)
ERRORS = re.compile(r"^\s*\[(\d+)\]\s+\D", re.MULTILINE)


def find_hey(install: bool, say: Callable[[str], None]) -> str | None:
    """The path of hey; when missing and `install`, apt-get installs it first (as root)."""
    found = shutil.which("hey")
    if found or not install:
        return found
    say("hey is not installed: apt-get install -y hey")
    failed = apt_install("hey")
    if failed:
        say(f"apt-get install hey failed: {failed}")
    return shutil.which("hey")


def hey_argv(
    hey: str, port: int, path: str, senders: int, seconds: float, timeout: float
) -> list[str]:
    """hey's command line: `senders` connections for `seconds`, POSTing a small JSON body."""
    return [
        hey,
        *("-c", str(senders), "-z", f"{seconds:g}s", "-t", str(math.ceil(timeout))),
        *("-m", "POST", "-T", "application/json", "-d", BODY.decode()),
        f"http://{HOST}:{port}{path}",
    ]


def parse_hey(text: str) -> CrowdFigures:
    """hey's text summary: 200 answers per total second, p50/p99 of the answers (hey's
    percentiles, over every answer; with under 100 answers hey prints no 99 % line, and the
    nearest-rank p99 is the slowest answer), failures = errors (timeouts) + other statuses."""
    total = TOTAL.search(text)
    statuses = {int(code): int(count) for code, count in STATUS.findall(text)}
    errors_part = text.split("Error distribution:", 1)[1] if "Error distribution:" in text else ""
    errors = sum(int(count) for count in ERRORS.findall(errors_part))
    percents = {int(p): float(s) * 1000 for p, s in PERCENT.findall(text) if float(s) > 0}
    slowest = SLOWEST.search(text)
    if 99 not in percents and slowest and float(slowest.group(1)) > 0:
        percents[99] = float(slowest.group(1)) * 1000
    answered = statuses.get(200, 0)
    return CrowdFigures(
        answered=answered,
        failed=errors + sum(statuses.values()) - answered,
        elapsed=float(total.group(1)) if total else math.nan,
        p50_ms=percents.get(50, math.nan),
        p99_ms=percents.get(99, math.nan),
        tool="hey",
    )
