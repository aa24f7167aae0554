"""The faults of `n8n-sidecar bench -s faults`: each one a module with `run(bench, sizes)`
returning its Figures (sidecar/bench/faults/figures.py)."""
