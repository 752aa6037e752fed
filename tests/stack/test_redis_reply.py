"""Tests of the bench's RESP reader (memory.redis_command) and slow-log summary (bench.save_redis_slowlog)
against a real redis-server on a unix socket in a temp dir: `python3 -m unittest discover -s tests/stack
-p 'test_*.py'`."""

from __future__ import annotations

import shutil
import tempfile
import unittest
from pathlib import Path

import bench
import layout
import memory

REDIS = layout.redis_bin()


@unittest.skipUnless(REDIS, "redis-server is not installed")
class RedisReplyTest(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="rinha-resp-"))
        self.proc, self.sock = memory.start_redis(REDIS, self.dir, "--save", "")

    def tearDown(self) -> None:
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir)

    def test_every_reply_kind(self) -> None:
        self.assertEqual(memory.redis_command(self.sock, "SET", "k", "v\r\nw"), b"+OK")
        self.assertEqual(memory.redis_command(self.sock, "GET", "k"), b"v\r\nw")
        self.assertIsNone(memory.redis_command(self.sock, "GET", "absent"))
        self.assertEqual(memory.redis_command(self.sock, "XLEN", "absent"), b":0")
        self.assertTrue(memory.redis_command(self.sock, "NOSUCHCOMMAND").startswith(b"-ERR"))
        nested = memory.redis_command(self.sock, "EVAL", "return {1, {'a', 'b'}, 'c'}", "0")
        self.assertEqual(nested, [b":1", [b"a", b"b"], b"c"])

    def test_the_slow_log_names_the_queue_scripts(self) -> None:
        bench.start_redis_slowlog(self.dir)
        sha = memory.redis_command(self.sock, "SCRIPT", "LOAD", (layout.REPO / "src/queue/accepted.lua").read_text())
        # A busy EVAL stands for a slow command; the fast EVALSHA of a queue script stays out of the log.
        memory.redis_command(self.sock, "EVAL", "local x = 0 for i = 1, 3000000 do x = x + i end return x", "0")
        memory.redis_command(self.sock, "EVALSHA", sha.decode(), "0", "id", "p:", "1000", "1", "0")
        found = bench.save_redis_slowlog(self.dir, self.dir)
        self.assertEqual(found["count"], 1)
        self.assertGreater(found["max_ms"], bench.SLOWLOG_US / 1000)
        text = (self.dir / "redis-slowlog.txt").read_text()
        self.assertIn("EVAL ", text)
        self.assertNotIn("accepted.lua", text)
        self.assertIn(sha.decode(), bench.script_names())
        self.assertEqual(bench.script_names()[sha.decode()], "accepted.lua")


if __name__ == "__main__":
    unittest.main()
