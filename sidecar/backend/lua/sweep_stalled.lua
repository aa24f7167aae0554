-- Recover jobs whose worker died: their lock deadline passed without a heartbeat.
-- KEYS[1]  sidecar:locks:{queue}    zset job id -> lock deadline
-- KEYS[2]  rq:queue:{queue}         waiting list (recovered jobs go to its front)
-- KEYS[3]  rq:wip:{queue}           RQ's started registry
-- KEYS[4]  sidecar:stalled-out      list of job ids to dead-letter (drained by Python)
-- ARGV[1]  now   ARGV[2] max stalled count   ARGV[3] job key prefix   ARGV[4] batch size
-- Returns {requeued count, dead-lettered count}. A stall does not use up a delivery attempt.
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[4]))
local requeued, dead = 0, 0
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[1], id)
  local key = ARGV[3] .. id
  local exec = redis.call('HGET', key, 'sidecar_exec')
  if exec then redis.call('ZREM', KEYS[3], id .. ':' .. exec) end
  if redis.call('EXISTS', key) == 1 then
    redis.call('HINCRBY', key, 'sidecar_attempt', -1)
    local stalled = redis.call('HINCRBY', key, 'sidecar_stalled', 1)
    if stalled > tonumber(ARGV[2]) then
      redis.call('RPUSH', KEYS[4], id)
      dead = dead + 1
    else
      redis.call('HSET', key, 'status', 'queued')
      redis.call('LPUSH', KEYS[2], id)
      requeued = requeued + 1
    end
  end
end
return {requeued, dead}
