-- Dedupe and enqueue a payment in one atomic step.
-- KEYS[1] accepted-ids hash, KEYS[2] payments stream
-- ARGV[1] canonical correlation id, ARGV[2] amount in cents, ARGV[3] deadline (ms since epoch, 0 = none)
-- Returns 1 accepted, 0 replay of an accepted payment, -1 same id with another amount, -2 past deadline.
local previous = redis.call('HGET', KEYS[1], ARGV[1])
if previous then
  if previous == ARGV[2] then return 0 end
  return -1
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = tonumber(ARGV[3])
if deadline > 0 and now > deadline then return -2 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('XADD', KEYS[2], '*', 'id', ARGV[1], 'cents', ARGV[2], 'at', tostring(now))
return 1
