-- Take up to ARGV[1] waiting jobs from one queue, within the global delivery limit, and mark
-- them started, atomically. Only jobs actually taken count against the limit. Nothing is
-- taken from a paused queue.
-- KEYS[1]  rq:queue:{queue}        RQ's list of waiting job ids
-- KEYS[2]  rq:wip:{queue}          RQ's started registry; member "{id}:{exec}", far-future score
-- KEYS[3]  sidecar:locks:{queue}   zset job id -> lock deadline (unix seconds)
-- KEYS[4]  sidecar:limit:{queue}:{window number}   deliveries started in this fixed window
-- KEYS[5]  sidecar:paused:{queue}  set while an operator has paused the queue
-- KEYS[6]  sidecar:drained:{queue}:{bucket}   jobs taken in this bucket (backpressure.py;
--          optional)
-- ARGV[1]  how many jobs at most        ARGV[2] lock deadline
-- ARGV[3]  score for RQ's wip registry  ARGV[4] started_at (RQ time format)
-- ARGV[5]  worker name                  ARGV[6] execution id
-- ARGV[7]  job key prefix ("rq:job:")   ARGV[8] delivered-marker prefix
-- ARGV[9]  limit per window             ARGV[10] window length in ms
-- ARGV[11] TTL of the drain bucket (s)
-- Returns a flat list, four items per job: id, data, attempt number, already delivered (0/1).
local taken = {}
if redis.call('EXISTS', KEYS[5]) == 1 then return taken end
local used = tonumber(redis.call('GET', KEYS[4]) or '0')
local wanted = math.min(tonumber(ARGV[1]), tonumber(ARGV[9]) - used)
while wanted > 0 do
  local id = redis.call('LPOP', KEYS[1])
  if not id then break end
  local key = ARGV[7] .. id
  local data = redis.call('HGET', key, 'data')
  if data then  -- a job whose hash expired or was deleted is dropped from the list
    wanted = wanted - 1
    local attempt = redis.call('HINCRBY', key, 'sidecar_attempt', 1)
    redis.call('HSET', key, 'status', 'started', 'started_at', ARGV[4],
               'worker_name', ARGV[5], 'sidecar_exec', ARGV[6])
    redis.call('ZADD', KEYS[2], ARGV[3], id .. ':' .. ARGV[6])
    redis.call('ZADD', KEYS[3], ARGV[2], id)
    local delivered = redis.call('EXISTS', ARGV[8] .. id)
    table.insert(taken, id)
    table.insert(taken, data)
    table.insert(taken, attempt)
    table.insert(taken, delivered)
  end
end
if #taken > 0 then
  redis.call('INCRBY', KEYS[4], #taken / 4)
  redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[10]) * 2)
  if KEYS[6] then
    redis.call('INCRBY', KEYS[6], #taken / 4)
    redis.call('EXPIRE', KEYS[6], ARGV[11])
  end
end
return taken
