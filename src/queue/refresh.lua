-- Resets the idle time of the entries the consumer still holds, and only those: an entry another
-- worker reclaimed meanwhile (after an outage longer than reclaim_idle) stays with it, since
-- taking it back would give it two holders.
--
-- KEYS[1]: the stream. ARGV: group, consumer, entry ids...
-- Returns the entry ids another consumer holds now. One no longer pending at all was acknowledged
-- since the caller listed it (its task is done with it): nothing to refresh, nothing lost.
--
-- The held entries are claimed in one XCLAIM: Redis runs nothing else while a script runs, and
-- each call from a script costs about as much as the check itself. Lua's unpack takes about 8,000
-- values at most, so a call carries at most a few thousand entries (the worker sends 64).
local lost, held = {}, {}
for i = 3, #ARGV do
  local row = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)[1]
  if row and row[2] == ARGV[2] then
    held[#held + 1] = ARGV[i]
  elseif row then
    lost[#lost + 1] = ARGV[i]
  end
end
if #held > 0 then
  held[#held + 1] = 'JUSTID'
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(held))
end
return lost
