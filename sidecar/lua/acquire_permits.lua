-- Global delivery limiter: at most ARGV[1] deliveries per queue per fixed window.
-- KEYS[1]  sidecar:limit:{queue}:{window number}   deliveries granted in this window
-- ARGV[1]  max per window   ARGV[2] permits wanted   ARGV[3] window length in ms
-- Returns the permits granted (0 when the window is used up). Unused ones are given back
-- with DECRBY by the caller.
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local granted = math.min(tonumber(ARGV[2]), tonumber(ARGV[1]) - used)
if granted <= 0 then return 0 end
redis.call('INCRBY', KEYS[1], granted)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
return granted
