#!/usr/bin/env python3
"""The benchmark and capacity harness: `n8n-sidecar bench` under another name.

.venv/bin/python scripts/bench.py                  # every scenario
.venv/bin/python scripts/bench.py -s ingest -s e2e --jobs 3000
.venv/bin/python scripts/bench.py --smoke --json /tmp/figures.json
.venv/bin/python scripts/bench.py --help
"""

import sys

try:
    from sidecar.bench.cli import bench
except ImportError as missing:  # not the project's venv
    sys.exit(
        f"bench: cannot import {missing.name or missing}: "
        "run it with the project's venv (.venv/bin/python scripts/bench.py)"
    )

if __name__ == "__main__":
    bench(prog_name="bench.py")
