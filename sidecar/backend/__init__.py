"""The bottom layer: the Redis connection, error translation, Lua scripts, the key schema
and RQ's key layout. Imports only settings, errors and redis/rq."""
