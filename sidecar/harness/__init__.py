"""Support library for the tooling around the sidecar: the test suite and the benchmark.

One copy of what both need to run the sidecar for real on 127.0.0.1 — free ports, waiting
for readiness, a process runner with log files, throw-away redis-server and Sentinel set-ups,
gateway and worker subprocesses, and one stand-in for n8n (scripted for tests, scoring for
the benchmark). It ships inside the package because `n8n-sidecar bench` uses it.

Only `sidecar.bench` and the tests import it: the product modules (sidecar.app, http,
worker, queues, ...) never do.
"""
