"""One stack at a time on a machine: /tmp/rinha-stack.lock, taken by the commands that start the stack.

A stack binds :9999, uses /var/tmp/rinha-run and creates the rinha cgroups, so two at once break each
other (and a benchmark measured beside another stack measures nothing). `make up|floor|bench|soak|hostile`
and the end-to-end and hostile steps of `make test` hold the lock while they run; everything else
(builds, cargo tests, the Nix checks) does not, so a long `make test` or `make fresh-check` blocks
others' benchmarks only for its stack steps.

Nesting: people already wrap commands in `flock /tmp/rinha-stack.lock ...` (the lead's
`flock /tmp/rinha-stack.lock bash .ci/run`, say). flock(1) holds the lock in its own process, an
ancestor of ours; a new lock request from us would wait for it for ever. So when the lock's holder is
one of our ancestors, we are already inside it and go on without taking it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from pathlib import Path
from typing import Iterator

LOCK = Path("/tmp/rinha-stack.lock")


def holders(path: Path) -> set[int]:
    """PIDs that hold a flock() on `path` (/proc/locks; the PID is the process that took it)."""
    st = os.stat(path)
    want = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    found = set()
    with open("/proc/locks") as f:
        for row in f:
            fields = row.split()
            # "1: FLOCK  ADVISORY  WRITE 7572 fe:00:10012168 0 EOF"; waiters have "->" after the number.
            if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == want:
                found.add(int(fields[4]))
    return found


def ancestors() -> set[int]:
    """This process and its parents up to PID 1."""
    pid, seen = os.getpid(), set()
    while pid > 0 and pid not in seen:
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                # The command name (field 2) may hold spaces and parentheses: split after its last ")".
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return seen


def describe(pids: set[int]) -> str:
    def cmdline(pid: int) -> str:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            return "?"

    return ", ".join(f"pid {pid}: {cmdline(pid)[:100]}" for pid in sorted(pids)) or "a process that has exited"


@contextlib.contextmanager
def held(path: Path | str = LOCK) -> Iterator[None]:
    """Hold the stack lock for the body, unless an ancestor (an outer `flock` wrapper) already does."""
    path = Path(path)
    # Non-inheritable (os.open's default): the supervisor `up` leaves running must not keep the lock.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        outer = holders(path) & ancestors()
        if outer:
            print(f"[stack] {path} is held by an ancestor ({describe(outer)}); going on inside it",
                  file=sys.stderr, flush=True)
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"[stack] waiting for {path} (held by {describe(holders(path))})", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the only descriptor of this open file releases the lock
