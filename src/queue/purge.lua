-- Forget every payment the queue knows of and recreate the consumer group on an empty stream.
-- KEYS: the stream first, then every other key to delete. ARGV[1] the group name.
for i = 1, #KEYS do redis.call('DEL', KEYS[i]) end
redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
return 1
