"""What each hop of a POST costs on an idle machine: sequential round trips, one connection per target.

Against a running stack (`make up EMULATORS=1`, or `make floor` for nginx alone), it times one request at a
time, so nothing queues and the figures are each hop's own cost plus the wake-ups between the processes:
- `nginx`: POST /payments on :9999 (nginx → API → Redis → API → nginx; the floor's nginx answers itself);
- `api1`: the same POST straight to the first API (its socket or port) (API → Redis → API);
- `redis`: PING on Redis's socket.
`--rate N [--seconds S]` instead sends POSTs at N per second for S seconds (k6/soak.js, constant arrival
rate) and prints each service's cgroup CPU per payment over the middle of the run (the first and last 5 s
left out): what a payment costs when payments overlap, and how batching changes it with the rate.
`--same-cpu N` first pins this client, both APIs and Redis (every thread) to CPU N, and unpins them after:
what the hops cost when no wake-up has to cross to another CPU.
Beside each target's latencies: every service's cgroup CPU per request over its series (µs), the CPU a
request costs each process when nothing else runs. With emulators the worker pays the POSTs meanwhile, so
its column (and part of Redis's and PostgreSQL's) is the payment's cost, not the request's.

    python3 tests/stack/hops.py [--count 3000] [--same-cpu 0]
    python3 tests/stack/hops.py --rate 400 [--seconds 40]

Each POST is a new payment (19.90): run it against a stack whose payments you do not need.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import control  # noqa: E402
import layout  # noqa: E402
import memory  # noqa: E402
import rawhttp  # noqa: E402
import services  # noqa: E402
import soak  # noqa: E402


def post_once(sock: socket.socket) -> str:
    body = b'{"correlationId":"%s","amount":19.90}' % str(uuid.uuid4()).encode()
    sock.sendall(b"POST /payments HTTP/1.1\r\nHost: hops\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    return rawhttp.read_answers(sock, 1, time.monotonic() + 2.0).label()


def ping_once(sock: socket.socket) -> str:
    sock.sendall(b"*1\r\n$4\r\nPING\r\n")
    return memory.RespReader(sock).reply().decode()


EDGE_S = 5  # --rate: left out at each end (k6 starting its VUs, the last requests draining)


def connect(target: str) -> socket.socket:
    if target.startswith("/"):
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(target)
        return sock
    return rawhttp.connect(("127.0.0.1", int(target)))


def cpu_seconds(run_dir: Path) -> dict[str, float]:
    """Each service's cgroup CPU so far (the floor has nginx alone; no cgroups: empty). The emulators share
    the load group with k6, which is not ours to count."""
    return {name: row["cpu_seconds"] for name, row in control.service_stats(run_dir).items()
            if row.get("cpu_seconds") is not None and row.get("group") != "load"}


def measure(name: str, target: str, once, count: int, run_dir: Path) -> str:
    sock = connect(target)
    times, answers = [], set()
    cpu_before = cpu_seconds(run_dir)
    for _ in range(count):
        start = time.perf_counter()
        answers.add(once(sock))
        times.append((time.perf_counter() - start) * 1000)
    cpu_after = cpu_seconds(run_dir)
    sock.close()
    times.sort()
    q = {p: times[min(count - 1, int(count * p))] for p in (0.5, 0.9, 0.99)}
    cpu = " ".join(f"{svc}={(cpu_after[svc] - cpu_before[svc]) * 1e6 / count:.0f}"
                   for svc in cpu_after if svc in cpu_before)
    return (f"{name:6s} n={count} p50={q[0.5]:.3f} ms p90={q[0.9]:.3f} ms p99={q[0.99]:.3f} ms "
            f"answers={','.join(sorted(answers))}" + (f"\n       cgroup CPU µs/request: {cpu}" if cpu else ""))


def under_rate(rate: int, seconds: int, run_dir: Path) -> str:
    """The soak's k6 run (soak.run_k6: k6/soak.js in the load group) at `rate`/s; cgroup CPU per payment
    over the run without its first and last EDGE_S."""
    out = layout.TARGET / "hops" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out.mkdir(parents=True)
    load = (control.read_state(run_dir) or {}).get("cgroup", {}).get("groups", {}).get("load", [])
    result: list = []
    k6 = threading.Thread(target=lambda: result.append(soak.run_k6(out, rate, seconds, load)))
    k6.start()
    time.sleep(EDGE_S)
    before, t0 = cpu_seconds(run_dir), time.monotonic()
    time.sleep(seconds - 2 * EDGE_S)
    after, elapsed = cpu_seconds(run_dir), time.monotonic() - t0
    k6.join()
    rc, counts = result[0] if result else (None, None)
    payments = rate * elapsed
    per = {svc: (after[svc] - before[svc]) * 1e6 / payments for svc in after if svc in before}
    return (f"rate={rate}/s over {elapsed:.0f} s: cgroup CPU µs/payment "
            + " ".join(f"{svc}={v:.0f}" for svc, v in per.items()) + f" sum={sum(per.values()):.0f}"
            + f"\n       k6 exit {rc}: {counts} ({out})")


def threads_of(pattern: str) -> list[int]:
    """Every thread of every process whose command line contains `pattern`."""
    tids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if pattern in cmdline and "hops.py" not in cmdline:
                tids += [int(t.name) for t in (proc / "task").iterdir()]
        except OSError:
            continue
    return tids


def pin(tids: list[int], cpus: set[int]) -> None:
    for tid in tids:
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:
            pass  # a thread that ended meanwhile


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--same-cpu", type=int, default=None, metavar="N")
    parser.add_argument("--rate", type=int, default=None, metavar="N")
    parser.add_argument("--seconds", type=int, default=40)
    args = parser.parse_args(argv)
    run_dir = layout.run_dir()
    if args.rate is not None:
        if args.seconds <= 2 * EDGE_S:
            parser.error(f"--seconds must be over {2 * EDGE_S}")
        print(under_rate(args.rate, args.seconds, run_dir), flush=True)
        return 0
    targets = [("nginx", "9999", post_once)]
    opts = services.Options.load(run_dir) if (run_dir / "stack.json").exists() else None
    if opts is None or opts.mode != "stack":
        print("api1   not running; redis  not running (not the stack)")
    else:
        api1 = services.api_address(opts, "api1").removeprefix("unix:").removeprefix("127.0.0.1:")
        targets += [("api1", api1, post_once), ("redis", str(run_dir / "redis.sock"), ping_once)]
    pinned: list[int] = []
    if args.same_cpu is not None:
        pinned = threads_of("rinha api") + threads_of("redis-server")
        pin(pinned + [0], {args.same_cpu})  # 0: this process
        print(f"pinned this client and {len(pinned)} threads of the APIs and Redis to CPU {args.same_cpu}")
    try:
        for name, target, once in targets:
            if target.startswith("/") and not Path(target).exists():
                print(f"{name:6s} not running ({target})")
                continue
            print(measure(name, target, once, args.count, run_dir), flush=True)
    finally:
        if pinned:
            pin(pinned + [0], set(range(os.cpu_count() or 1)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
