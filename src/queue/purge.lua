-- Forget every payment the queue knows of and recreate the consumer group on an empty stream.
-- KEYS: the stream first, then every other key to delete. ARGV[1] the group name, ARGV[2] a
-- pattern of keys to delete as well (the dedupe buckets, whose names carry their time).
for i = 1, #KEYS do redis.call('DEL', KEYS[i]) end
for _, key in ipairs(redis.call('KEYS', ARGV[2])) do redis.call('DEL', key) end
redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
return 1
