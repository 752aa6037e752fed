"""Where in time a run's slowest POSTs fall: per 10-second bucket, the share of the run's POSTs and the share of
its slowest 1 % (those over its own p99), for every run-N and floor-N of the bench directories given. If the
floor's slowest POSTs fall where the stack's do, the load there (k6's own) explains them as much as the stack.

    python3 tests/stack/tail_share.py target/bench/<stamp> [...]

Python 3 standard library only.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import timeline


def shares(posts: list[tuple[float, float, bool]], q: float = 0.99) -> dict[int, tuple[float, float]]:
    """Per bucket (s): (share of the successful POSTs, share of those slower than the q-quantile)."""
    ok = [(t, ms) for t, ms, good in posts if good]
    cut = timeline.quantile(sorted(ms for _, ms in ok), q)
    if cut is None:
        return {}
    all_by = Counter(timeline.bucket_of(t) for t, _ in ok)
    slow_by = Counter(timeline.bucket_of(t) for t, ms in ok if ms > cut)
    slow = sum(slow_by.values())
    return {b: (n / len(ok), slow_by[b] / slow if slow else 0.0) for b, n in sorted(all_by.items())}


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    for d in map(Path, argv):
        for run in sorted(p for p in d.iterdir() if p.name.startswith(("run-", "floor-"))):
            by = shares(timeline.read_posts(run))
            cells = "  ".join(f"{b}s {p:.0%}/{s:.0%}" for b, (p, s) in by.items())
            print(f"{d.name} {run.name:<8} POSTs/slowest 1 % per bucket: {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
