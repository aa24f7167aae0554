"""Typed jobs for n8n HTTP Request nodes: the nine FLRTS queues of SPEC §4.

* `text`: sanitising pydantic types (control characters stripped, ids, future date-times).
* `models`: one model per queue, `MODELS` keyed by operation ("tasks:create"), `validate`.
* `requests`: the request a job makes to n8n (`request_for`), how its answer is read, what
  deduplicates a typed job (`typed_identity`).
* `follow_ups`: what follows a job, as data (a notification, a reminder job).
* `processors`: only `run`, the RQ job function every typed job hash names (RUN_FUNC); it
  lives in the worker (sidecar/worker/typed_jobs.py), which delivers the request and the
  notifications and has the intake store the follow-up jobs. Everything else here is pure:
  no Redis, no queue writes, no imports of queues, worker or http.

The HTTP side is `sidecar.http.jobs_api` (`POST /v1/jobs/{queue}`); the guide is
docs/typed-jobs.md.
"""
