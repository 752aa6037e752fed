-- Writes a payment's attempt record only while the consumer still holds its stream entry.
--
-- Every processor call is preceded by this write, so a worker whose entry was reclaimed by
-- another (after an outage longer than reclaim_idle) can make no further call: the new holder
-- reads the record after its claim and so sees every call the old one made.
--
-- KEYS[1]: the stream, KEYS[2]: the attempts hash. ARGV: group, consumer, entry id, correlation
-- id, record. Returns 1 when written, 0 when the consumer no longer holds the entry.
local row = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)[1]
if not (row and row[2] == ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
return 1
