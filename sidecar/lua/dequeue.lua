-- Take up to ARGV[1] waiting jobs from one queue and mark them started, atomically.
-- KEYS[1]  rq:queue:{queue}        RQ's list of waiting job ids
-- KEYS[2]  rq:wip:{queue}          RQ's started registry; member "{id}:{exec}", far-future score
-- KEYS[3]  sidecar:locks:{queue}   zset job id -> lock deadline (unix seconds)
-- ARGV[1]  how many jobs at most        ARGV[2] lock deadline
-- ARGV[3]  score for RQ's wip registry  ARGV[4] started_at (RQ time format)
-- ARGV[5]  worker name                  ARGV[6] execution id
-- ARGV[7]  job key prefix ("rq:job:")   ARGV[8] delivered-marker prefix
-- Returns a flat list, four items per job: id, data, attempt number, already delivered (0/1).
local taken = {}
local wanted = tonumber(ARGV[1])
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
return taken
