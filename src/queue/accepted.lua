-- The amount (cents) a payment was accepted with, if its id is still inside the dedupe window.
-- ARGV[1] canonical correlation id, ARGV[2..4] as enqueue.lua's ARGV[4..6].
-- Returns the cents as text, or false.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local bucket_ms = tonumber(ARGV[3])
local spans = tonumber(ARGV[4])
local current = math.floor(now / bucket_ms)
for b = current - spans, current do
  local cents = redis.call('HGET', ARGV[2] .. b, ARGV[1])
  if cents then return cents end
end
return false
