"""Typed jobs for n8n HTTP Request nodes: the nine FLRTS queues of SPEC §4.

* `text`: sanitising pydantic types (control characters stripped, ids, future date-times).
* `models`: one model per queue, `MODELS` keyed by operation ("tasks:create"), `validate`.
* `processors`: what a job sends to n8n (`request_for`), what follows it (`follow_ups`), and
  `run`, the RQ job function of every typed job.

The HTTP side is `sidecar.http.jobs_api` (`POST /v1/jobs/{queue}`); the guide is
docs/typed-jobs.md.
"""
