"""Automatic single ⇄ queue switching (ADR-001 thresholds, SPEC §1, §5 /v1/mode, §6 alerts).

counters.py    SignalCounters: record_webhook() / record_latency() on the hot path
signals.py     SignalSampler: the signals, sampled from the counters and the sources
rate.py, latency.py, memory.py, n8n.py   the sources behind the four signals
sources.py     what each signal measures (its source), and which are blind
controller.py  the pure state machine: Controller(thresholds, clock).observe(signals)
store.py       the shared mode in Redis (ModeStore); local_store.py without Redis
lock.py        one evaluator at a time
event_alerts.py  the alert a controller event raises (sidecar/alerts.py sends it)
monitor.py     the loop that ties them together in each gateway
backlog.py     the drained-queues rule; metrics.py: gauges (events: sidecar/events.py)
report.py      the /v1/mode and `status` view: mode_report(store, thresholds)
"""
