-- Record a batch of finished delivery attempts, atomically, in one call (worker/ledger.py;
-- the arguments are laid out by worker/outcomes.py). Per job, in batch order:
--   every kind: leave RQ's wip registry and the sidecar's lock set;
--   done:  status finished, ended_at, sidecar_status; finished registry; TTL; delivered marker;
--   retry: status scheduled, sidecar_error; scheduled registry at the retry time;
--   hold:  n8n never got it (worker/gate.py): the attempt is given back (sidecar_attempt
--          - 1), status queued, sidecar_error; back to the head of the queue's list;
--   dead:  status failed, ended_at, sidecar_error, exc_info; failed registry; TTL
--          (the dead-letter entry is written by the caller, in the same transaction);
--   done and dead: one event on the stream, and the queue's statistics (queues/stats.py).
-- ARGV[1]  ended_at (RQ time format)   ARGV[2] execution id (wip members are "{id}:{exec}")
-- ARGV[3]  job key prefix              ARGV[4] delivered-marker prefix
-- ARGV[5]  completed TTL (s)           ARGV[6] failed TTL (s)
-- ARGV[7]  event stream key            ARGV[8] its approximate MAXLEN
-- ARGV[9]  statistics bucket TTL (s)   ARGV[10] duration samples kept
-- ARGV[11] Q, the number of queues; then Q times 8 keys: wip, locks, finished, scheduled,
--          failed, statistics bucket, duration samples, the queue's list;
-- then 9 values per job: queue number (1..Q), kind, id, sidecar_status, error, exc_info,
--          score in its registry, duration (ms), event data (JSON); '' where unused.
-- Returns the number of jobs recorded.
local HEAD, KEYS_PER_QUEUE, PER_JOB = 11, 8, 9
local ended_at, exec = ARGV[1], ARGV[2]
local job_prefix, delivered_prefix = ARGV[3], ARGV[4]
local done_ttl, failed_ttl = ARGV[5], ARGV[6]
local queues, stats, order = {}, {}, {}

for q = 1, tonumber(ARGV[HEAD]) do
  local base = HEAD + (q - 1) * KEYS_PER_QUEUE
  queues[q] = {wip = ARGV[base + 1], locks = ARGV[base + 2], finished = ARGV[base + 3],
               scheduled = ARGV[base + 4], failed = ARGV[base + 5], bucket = ARGV[base + 6],
               samples = ARGV[base + 7], list = ARGV[base + 8]}
end

local function note(q, kind, ms, event)
  redis.call('XADD', ARGV[7], 'MAXLEN', '~', ARGV[8], '*',
             'type', kind == 'done' and 'completed' or 'failed', 'data', event)
  if not stats[q] then
    stats[q] = {failed = 0, durations = {}}
    table.insert(order, q)
  end
  table.insert(stats[q].durations, ms)
  if kind == 'dead' then stats[q].failed = stats[q].failed + 1 end
end

local first = HEAD + tonumber(ARGV[HEAD]) * KEYS_PER_QUEUE + 1
local count = (#ARGV - first + 1) / PER_JOB
for j = 0, count - 1 do
  local at = first + j * PER_JOB
  local q, kind, id = tonumber(ARGV[at]), ARGV[at + 1], ARGV[at + 2]
  local keys, key = queues[q], job_prefix .. id
  redis.call('ZREM', keys.wip, id .. ':' .. exec)
  redis.call('ZREM', keys.locks, id)
  if kind == 'done' then
    redis.call('HSET', key, 'status', 'finished', 'ended_at', ended_at,
               'sidecar_status', ARGV[at + 3])
    redis.call('ZADD', keys.finished, ARGV[at + 6], id)
    redis.call('EXPIRE', key, done_ttl)
    redis.call('SET', delivered_prefix .. id, 1, 'EX', done_ttl)
  elseif kind == 'retry' then
    redis.call('HSET', key, 'status', 'scheduled', 'sidecar_error', ARGV[at + 4])
    redis.call('ZADD', keys.scheduled, ARGV[at + 6], id)
  elseif kind == 'hold' then
    redis.call('HINCRBY', key, 'sidecar_attempt', -1)
    redis.call('HSET', key, 'status', 'queued', 'sidecar_error', ARGV[at + 4])
    redis.call('LPUSH', keys.list, id)
  else
    redis.call('HSET', key, 'status', 'failed', 'ended_at', ended_at,
               'sidecar_error', ARGV[at + 4], 'exc_info', ARGV[at + 5])
    redis.call('ZADD', keys.failed, ARGV[at + 6], id)
    redis.call('EXPIRE', key, failed_ttl)
  end
  if kind == 'done' or kind == 'dead' then note(q, kind, ARGV[at + 7], ARGV[at + 8]) end
end

for _, q in ipairs(order) do
  local keys, s = queues[q], stats[q]
  redis.call('HINCRBY', keys.bucket, 'processed', #s.durations)
  if s.failed > 0 then redis.call('HINCRBY', keys.bucket, 'failed', s.failed) end
  redis.call('EXPIRE', keys.bucket, ARGV[9])
  for i = 1, #s.durations, 1000 do  -- unpack() has a limit: LPUSH in slices
    redis.call('LPUSH', keys.samples, unpack(s.durations, i, math.min(i + 999, #s.durations)))
  end
  redis.call('LTRIM', keys.samples, 0, tonumber(ARGV[10]) - 1)
end
return count
