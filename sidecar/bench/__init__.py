"""The benchmark and capacity harness (`n8n-sidecar bench`, `scripts/bench.py`).

It starts on 127.0.0.1 everything it measures — its own redis-server on a free port, a fast
stand-in for n8n, gateways and workers — runs bounded load, and prints each scenario beside
a baseline measured in the same run (the machine is noisy: ratios are what count). It is
not a test and never fails CI; its smoke mode is run by the test suite so it cannot rot.
"""
