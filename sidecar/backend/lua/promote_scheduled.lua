-- Move retries whose backoff has elapsed from RQ's scheduled registry back to the queue.
-- KEYS[1]  rq:scheduled:{queue}   zset job id -> when to run
-- KEYS[2]  rq:queue:{queue}       waiting list
-- ARGV[1]  now   ARGV[2] batch size   ARGV[3] job key prefix   ARGV[4] enqueued_at
-- Returns how many jobs were moved.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HSET', ARGV[3] .. id, 'status', 'queued', 'enqueued_at', ARGV[4])
  redis.call('RPUSH', KEYS[2], id)
end
return #due
