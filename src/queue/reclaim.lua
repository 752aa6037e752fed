-- Takes over the entries other consumers hold that have been idle for at least min_idle_ms.
--
-- An entry of the caller itself is never taken: idle or not, it is either one of the caller's
-- live tasks (its refreshes failed, e.g. while Redis was unreachable) or one it resumes at start;
-- a second task for it would be a second holder. The scan goes on from a cursor, so that a long
-- run of such entries cannot hide the ones behind it.
--
-- KEYS[1]: the stream. ARGV: group, consumer, min_idle_ms, cursor ('-' or '(' .. entry id), count.
-- Returns {next cursor ('-' once the end was reached), claimed entries as XCLAIM returns them}.
local rows = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], ARGV[4], '+', ARGV[5])
local theirs = {}
for _, row in ipairs(rows) do
  if row[2] ~= ARGV[2] then
    theirs[#theirs + 1] = row[1]
  end
end
local next_cursor = '-'
if #rows == tonumber(ARGV[5]) then
  next_cursor = '(' .. rows[#rows][1]
end
local claimed = {}
if #theirs > 0 then
  -- XCLAIM checks the idle time again; an entry deleted from the stream comes back as nil.
  for _, entry in ipairs(redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], unpack(theirs))) do
    if type(entry) == 'table' then
      claimed[#claimed + 1] = entry
    end
  end
end
return {next_cursor, claimed}
