-- Dedupe and enqueue a payment in one atomic step.
-- KEYS[1] the payments stream
-- ARGV[1] canonical correlation id, ARGV[2] amount in cents, ARGV[3] deadline (ms since epoch, 0 = none),
-- ARGV[4] the dedupe buckets' key prefix, ARGV[5] bucket length (ms), ARGV[6] buckets a window spans
-- Returns 1 accepted, 0 replay of an accepted payment, -1 same id with another amount, -2 past deadline.
--
-- The dedupe window: ids are kept in hashes per time bucket (`<prefix><bucket number>`), each of
-- which expires whole once no check can reach it any more; so Redis's memory holds the ids of at
-- most one window plus one bucket, without 7.4's per-field expiry. An id is remembered from its
-- acceptance for at least the window (spans × bucket) and less than the window plus one bucket.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local bucket_ms = tonumber(ARGV[5])
local spans = tonumber(ARGV[6])
local current = math.floor(now / bucket_ms)
for b = current - spans, current do
  local previous = redis.call('HGET', ARGV[4] .. b, ARGV[1])
  if previous then
    if previous == ARGV[2] then return 0 end
    return -1
  end
end
local deadline = tonumber(ARGV[3])
if deadline > 0 and now > deadline then return -2 end
local key = ARGV[4] .. current
redis.call('HSET', key, ARGV[1], ARGV[2])
-- The last check that reads this bucket runs in bucket current + spans.
redis.call('PEXPIREAT', key, (current + spans + 1) * bucket_ms)
redis.call('XADD', KEYS[1], '*', 'id', ARGV[1], 'cents', ARGV[2], 'at', tostring(now))
return 1
