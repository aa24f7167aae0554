-- Keep at most ARGV[1] jobs in an RQ registry (finished or failed), deleting the oldest.
-- RQ keeps jobs by age only; the seed's removeOnComplete/removeOnFail also cap the count.
-- KEYS[1]  rq:finished:{queue} or rq:failed:{queue}   zset job id -> expiry
-- ARGV[1]  how many to keep   ARGV[2] job key prefix
-- Returns how many jobs were removed.
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if extra <= 0 then return 0 end
local oldest = redis.call('ZRANGE', KEYS[1], 0, extra - 1)
for _, id in ipairs(oldest) do redis.call('DEL', ARGV[2] .. id) end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, extra - 1)
return extra
