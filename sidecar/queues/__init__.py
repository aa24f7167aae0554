"""Redis-backed queues: connection, names, enqueueing, dead letters, maintenance scripts."""
