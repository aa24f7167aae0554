#!lua
-- Admit one webhook (or typed job) and store it as a new RQ job, atomically, in one round
-- trip: the dedup claim, the per-user moving-window rate limit, then RQ's enqueue steps.
-- The job id is fresh for every accepted webhook (never derived from the dedup identity):
-- a resend after the dedup window is a new job and leaves the first one as it is.
-- KEYS[1]  sidecar:dedup:{queue}:{hash of method, path and id}   the claim; its value is
--          the first job's id, for ARGV[2] seconds; unused when ARGV[2] is 0 (no dedup)
-- KEYS[2]  sidecar:ratelimit:{queue}:{limit}/{window}:{user}   admission times in µs
--          (Redis server time), newest first, at most {limit} long; unused when ARGV[3] is 0
-- KEYS[3]  rq:job:{job id}   KEYS[4] rq:queues   KEYS[5] rq:queue:{queue}
-- KEYS[6]  sidecar:wake:{queue}            one wake-up token for an idle worker (queues/wake.py)
-- KEYS[7]  sidecar:backlog_full            refusals of full queues, per queue (backpressure.py)
-- ARGV[1]  job id (new)      ARGV[2] dedup window (s), 0: no claim
-- ARGV[3]  limit per window (0: no per-user limit)   ARGV[4] window (s)
-- ARGV[5]  most jobs waiting on the queue (0: no limit)  ARGV[6] '1': Redis memory is full
-- ARGV[7…] the job hash as RQ stores it: field, value, field, value, …
-- Returns {'queued'}, {'duplicate', first job id}, {'limited', whole seconds until a slot
-- frees} or {'full', jobs waiting}. Nothing is written unless the job is queued (a refusal
-- of a full queue is counted in KEYS[7]): a refused one leaves no claim.
local claim = tonumber(ARGV[2])
if claim > 0 then
  local first = redis.call('GET', KEYS[1])
  if first then
    return {'duplicate', first}
  end
end

local limit = tonumber(ARGV[3])
local now
if limit > 0 then
  local time = redis.call('TIME')
  now = time[1] .. string.format('%06d', tonumber(time[2]))  -- µs, as text: exact
  local window = tonumber(ARGV[4]) * 1000000
  local full = redis.call('LLEN', KEYS[2]) >= limit
  local oldest = full and tonumber(redis.call('LINDEX', KEYS[2], limit - 1))
  if oldest and oldest >= tonumber(now) - window then
    local wait = math.ceil((oldest + window - tonumber(now)) / 1000000)
    return {'limited', math.max(1, wait)}
  end
end

local most = tonumber(ARGV[5])
local waiting = redis.call('LLEN', KEYS[5])
if ARGV[6] == '1' or (most > 0 and waiting >= most) then
  redis.call('HINCRBY', KEYS[7], KEYS[5], 1)
  return {'full', waiting}
end

-- Store first, then claim and count: an error while storing leaves no claim behind.
redis.call('HSET', KEYS[3], unpack(ARGV, 7))
redis.call('SADD', KEYS[4], KEYS[5])
redis.call('RPUSH', KEYS[5], ARGV[1])
redis.call('LPUSH', KEYS[6], 1)
redis.call('LTRIM', KEYS[6], 0, 0)
if claim > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', claim)
end
if limit > 0 then
  redis.call('LPUSH', KEYS[2], now)
  redis.call('LTRIM', KEYS[2], 0, limit - 1)
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
return {'queued'}
