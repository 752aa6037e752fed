"""Tests of the stack lock (stacklock.py) with real processes and real flock(1) holders, on a lock
file of their own (never /tmp/rinha-stack.lock): `python3 -m unittest discover -s tests/stack -p 'test_*.py'`."""

from __future__ import annotations

import select
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent

# A child that takes the lock the way the runner does, says so, then waits for a line on stdin before
# letting go (so the test decides how long it holds it).
TAKER = f"""
import sys
sys.path.insert(0, {str(HERE)!r})
import stacklock
with stacklock.held(sys.argv[1]):
    print("inside", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


def line(stream, timeout: float = 30) -> str:
    """The next line, or "" if none comes within the timeout (a deadlocked child prints nothing)."""
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else ""


def free(lock: Path) -> bool:
    """Whether an unrelated process can take the lock right now."""
    return subprocess.run(["flock", "-n", str(lock), "true"]).returncode == 0


def reap(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


@unittest.skipUnless(shutil.which("flock"), "flock(1) not installed")
class StackLock(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.lock = Path(self.dir.name) / "stack.lock"

    def tearDown(self):
        self.dir.cleanup()

    def spawn(self, argv: list[str]) -> subprocess.Popen:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        self.addCleanup(reap, proc)
        return proc

    def taker(self, *wrapper: str) -> subprocess.Popen:
        return self.spawn([*wrapper, sys.executable, "-c", TAKER, str(self.lock)])

    def finish(self, proc: subprocess.Popen) -> str:
        out, err = proc.communicate("\n", timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        return err

    def test_holds_the_lock_while_inside_and_lets_go_after(self):
        proc = self.taker()
        self.assertEqual(line(proc.stdout), "inside\n")
        self.assertFalse(free(self.lock), "another process could take the lock while the runner held it")
        self.finish(proc)
        self.assertTrue(free(self.lock))

    def test_an_outer_flock_wrapper_does_not_deadlock(self):
        # `flock /tmp/rinha-stack.lock make bench` (or `... bash .ci/run`): the holder is an ancestor.
        proc = self.taker("flock", str(self.lock))
        self.assertEqual(line(proc.stdout), "inside\n", "deadlock: the runner waited for the lock its own wrapper holds")
        self.assertFalse(free(self.lock))
        err = self.finish(proc)
        self.assertIn("held by an ancestor", err)
        self.assertTrue(free(self.lock))

    def test_an_unrelated_holder_is_waited_for(self):
        holder = self.spawn(["flock", str(self.lock), "sh", "-c", "echo held; cat"])
        self.assertEqual(line(holder.stdout), "held\n")
        proc = self.taker()
        self.assertIn("waiting for", line(proc.stderr))
        self.assertEqual(line(proc.stdout, timeout=0.5), "", "the runner went in while another process held it")
        holder.communicate("", timeout=30)  # cat exits on EOF, flock lets go
        self.assertEqual(line(proc.stdout), "inside\n")
        self.finish(proc)


if __name__ == "__main__":
    unittest.main()
