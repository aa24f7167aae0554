"""Redis-backed queues: the intake (every job write), admission, dead letters, backpressure,
durability, queue stats. The Redis connection, scripts, keys and queue names are in
sidecar/backend/."""
