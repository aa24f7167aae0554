-- Retention of the dead-letter queue (deadletters/retention.py), run by every worker once a second:
-- drop entries whose hash expired (SIDECAR_DLQ_MAX_AGE_SECONDS) from the list and the
-- per-queue zsets, then delete the oldest entries beyond SIDECAR_DLQ_MAX_ENTRIES with their
-- zset member and index key. At most ARGV[6] list ids are removed per call.
-- KEYS[1]  rq:queue:{prefix}:dead-letter (entry ids, oldest first)
-- KEYS[2…] sidecar:dlq:queue:{queue} of every queue (entry id -> time written)
-- ARGV[1] entries kept   ARGV[2] oldest time kept   ARGV[3] job key prefix
-- ARGV[4] index key prefix   ARGV[5] summary field   ARGV[6] batch   ARGV[7] zset prefix
-- Returns how many ids were removed from the list.
local list, max, oldest = KEYS[1], tonumber(ARGV[1]), ARGV[2]
local job_prefix, index_prefix, field = ARGV[3], ARGV[4], ARGV[5]
local batch, zset_prefix = tonumber(ARGV[6]), ARGV[7]
local removed = 0

for i = 2, #KEYS do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. oldest) end

while removed < batch do  -- expired entries are the oldest: at the head of the list
  local id = redis.call('LINDEX', list, 0)
  if not id or redis.call('EXISTS', job_prefix .. id) == 1 then break end
  redis.call('LPOP', list)
  removed = removed + 1
end

local excess = math.min(redis.call('LLEN', list) - max, batch - removed)
for _ = 1, excess do
  local id = redis.call('LPOP', list)
  local raw = redis.call('HGET', job_prefix .. id, field)
  if raw then
    local ok, summary = pcall(cjson.decode, raw)
    if ok and type(summary) == 'table' then
      redis.call('ZREM', zset_prefix .. tostring(summary.queue), id)
      local index = index_prefix .. tostring(summary.jobId)
      if redis.call('GET', index) == id then redis.call('DEL', index) end
    end
  end
  redis.call('DEL', job_prefix .. id)
  removed = removed + 1
end
return removed
