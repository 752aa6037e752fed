-- Writes payments' attempt records, each only while the consumer still holds its stream entry.
--
-- Every processor call is preceded by this write, so a worker whose entry was reclaimed by
-- another (after an outage longer than reclaim_idle) can make no further call: the new holder
-- reads the record after its claim and so sees every call the old one made.
--
-- KEYS[1]: the stream, KEYS[2]: the attempts hash. ARGV: group, consumer, then per payment its
-- entry id, correlation id and record. Returns per payment 1 when written, 0 when the consumer
-- no longer holds the entry.
--
-- The records go out in one HSET: Redis runs nothing else while a script runs, and each call
-- from a script costs about as much as the check itself. Lua's unpack takes about 8,000 values at
-- most, so a call carries at most a few thousand payments (the worker sends 64).
local out, fields = {}, {}
for i = 3, #ARGV, 3 do
  local row = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)[1]
  if row and row[2] == ARGV[2] then
    fields[#fields + 1] = ARGV[i + 1]
    fields[#fields + 1] = ARGV[i + 2]
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
if #fields > 0 then
  redis.call('HSET', KEYS[2], unpack(fields))
end
return out
