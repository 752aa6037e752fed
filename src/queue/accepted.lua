#!lua flags=no-writes
-- Where a payment's id stands in the dedupe window. Declared no-writes, so it runs while Redis
-- holds writes (CLIENT PAUSE WRITE) or is out of memory.
-- ARGV[1] canonical correlation id, ARGV[2..4] as enqueue.lua's ARGV[4..6], ARGV[5] a deadline
-- (ms since epoch; 0 = none).
-- Returns the accepted amount in cents (text) when the id is there; else 0 when Redis's clock is
-- past the deadline (no enqueue script for it can accept it any more: the id is known absent),
-- else -1 (absent for now).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local bucket_ms = tonumber(ARGV[3])
local spans = tonumber(ARGV[4])
local current = math.floor(now / bucket_ms)
for b = current - spans, current do
  local cents = redis.call('HGET', ARGV[2] .. b, ARGV[1])
  if cents then return cents end
end
if now > tonumber(ARGV[5]) then return 0 end
return -1
