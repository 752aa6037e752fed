"""Where a run's slowest POSTs fall, for every run-N and floor-N of the bench directories given: the share of the
run's POSTs and the share of its slowest 1 % (those over its own p99)
  * per 10-second bucket: if the floor's slowest POSTs fall where the stack's do, the load there (k6's own)
    explains them as much as the stack;
  * per company: how many POSTs (itself included) started within a millisecond of it. k6's VUs each POST and
    sleep 1 s, so many start together; a POST that starts in a crowd waits for those served before it at
    every serial step, which is where a request path's CPU per request becomes tail latency;
  * and the POSTs' p50/p99 by how many were already in flight when each started: a POST that started with
    none in flight waited for nothing of k6's making, so its tail is the stack's (or the host's) own.

    python3 tests/stack/tail_share.py target/bench/<stamp> [...]

Python 3 standard library only.
"""

from __future__ import annotations

import bisect
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


COMPANY_CLASSES = ((1, "1"), (4, "2-4"), (9, "5-9"), (None, "10+"))


def class_of(n: int, classes: tuple) -> str:
    """The name of the first class (upper bound, name) whose bound n is within; None bounds the last."""
    return next(name for top, name in classes if top is None or n <= top)


def spans(posts: list[tuple[float, float, bool]]) -> list[tuple[float, float, float]]:
    """(start, end, duration ms) of the successful POSTs, by start; a start is the end minus the duration."""
    return sorted((t - ms / 1000, t, ms) for t, ms, good in posts if good)


def company_shares(posts: list[tuple[float, float, bool]], within_s: float = 0.001,
                   q: float = 0.99) -> dict[str, tuple[float, float]]:
    """Per company class: (share of the successful POSTs, share of those slower than the q-quantile). A POST's
    start is its end minus its duration; its company is the POSTs started within `within_s` of it."""
    ok = spans(posts)
    cut = timeline.quantile(sorted(ms for _, _, ms in ok), q)
    if cut is None:
        return {}
    starts = [s for s, _, _ in ok]
    all_by: Counter = Counter()
    slow_by: Counter = Counter()
    for s, _, ms in ok:
        # A hair of slack: a start is a difference of floats, and equal starts must count as together.
        lo = bisect.bisect_left(starts, s - within_s - 1e-9)
        hi = bisect.bisect_right(starts, s + within_s + 1e-9)
        c = class_of(hi - lo, COMPANY_CLASSES)
        all_by[c] += 1
        if ms > cut:
            slow_by[c] += 1
    slow = sum(slow_by.values())
    return {name: (all_by[name] / len(ok), slow_by[name] / slow if slow else 0.0) for _, name in COMPANY_CLASSES}


INFLIGHT_CLASSES = ((0, "0"), (2, "1-2"), (5, "3-5"), (None, "6+"))


def latency_by_inflight(posts: list[tuple[float, float, bool]]) -> dict[str, tuple[int, float, float]]:
    """Per class of POSTs in flight when a POST started (started before it, ended after its start):
    (POSTs, p50 ms, p99 ms) of the successful POSTs."""
    ok = spans(posts)
    starts = [a for a, _, _ in ok]
    ends = sorted(b for _, b, _ in ok)
    by: dict[str, list[float]] = {}
    for a, _, ms in ok:
        n = max(0, bisect.bisect_left(starts, a) - bisect.bisect_right(ends, a))
        by.setdefault(class_of(n, INFLIGHT_CLASSES), []).append(ms)
    out = {}
    for _, name in INFLIGHT_CLASSES:
        if name in by:
            v = sorted(by[name])
            out[name] = (len(v), timeline.quantile(v, 0.5), timeline.quantile(v, 0.99))
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    for d in map(Path, argv):
        for run in sorted(p for p in d.iterdir() if p.name.startswith(("run-", "floor-"))):
            posts = timeline.read_posts(run)
            by = shares(posts)
            cells = "  ".join(f"{b}s {p:.0%}/{s:.0%}" for b, (p, s) in by.items())
            print(f"{d.name} {run.name:<8} POSTs/slowest 1 % per bucket: {cells}")
            cells = "  ".join(f"{c} {p:.0%}/{s:.0%}" for c, (p, s) in company_shares(posts).items())
            print(f"{d.name} {run.name:<8} POSTs/slowest 1 % per company (started within 1 ms): {cells}")
            cells = "  ".join(f"{c}: {n} POSTs p50 {p50:.2f} p99 {p99:.2f} ms"
                              for c, (n, p50, p99) in latency_by_inflight(posts).items())
            print(f"{d.name} {run.name:<8} by POSTs in flight at the start: {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
