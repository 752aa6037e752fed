#!/usr/bin/env python3
"""The native stack runner behind `make up|down|status|bench|test` (Python 3 standard library only).

    stack.py up [--emulators] [--purge] [--keep-state] [--floor | --bound]   # LINKS=tcp|unix from the environment
    stack.py down | status
    stack.py bench            # SCHEDULE, RUNS, MAX_REQUESTS, TIME_SCALE, BOUND, WIRE, LINKS from the environment
    stack.py e2e              # the end-to-end part of `make test`
    stack.py hostile [--running] [--only TEXT] [--skip TEXT]   # hostile requests, then valid POSTs
    stack.py soak             # RATE, DURATION from the environment: constant-rate POSTs, counts, memory
    stack.py chaos [--short] [--only TEXT]   # fault plans under load: lost, double-charged, mismatches
    stack.py test             # every step of `make test`, with timings and "N passed, M failed"
    stack.py supervise RUNDIR # internal: the background supervisor `up` starts

Flags default from the environment the Makefile exports (EMULATORS=1, KEEP_STATE=1, PURGE=1), so
`make up EMULATORS=1` and `stack.py up --emulators` mean the same.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import layout  # noqa: E402


# The commands that start a stack (`up` also for `--floor`; `hostile --running` uses one): they hold
# /tmp/rinha-stack.lock while they run (stacklock.py). `test` does not: its e2e and hostile steps are
# these commands, so a long `make test` holds the lock only while a stack is up.
STARTS_STACK = ("up", "bench", "e2e", "hostile", "soak")


def main(argv: list[str]) -> int:
    try:
        bound = layout.bound_mode()
    except ValueError as err:  # one line, not a traceback from every command
        print(f"[stack] {err}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="stack.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="start the capped, supervised stack; 0 once ready")
    p_up.add_argument("--emulators", action="store_true", default=layout.env_flag("EMULATORS"))
    p_up.add_argument("--purge", action="store_true", default=layout.env_flag("PURGE"))
    p_up.add_argument("--keep-state", action="store_true", default=layout.env_flag("KEEP_STATE"))
    p_up.add_argument("--floor", action="store_true", help="nginx alone answering constants (the bench floor)")
    p_up.add_argument("--bound", choices=("bound", "intake"), nargs="?", const="bound", default=bound,
                      help="the bench's bound instead: nginx in front of two nginx answering constants on the APIs' "
                           "addresses (bound), or of two stand-ins that XADD each POST to Redis (intake)")
    sub.add_parser("down", help="stop everything `up` started; idempotent")
    sub.add_parser("status", help="processes, readiness, restarts and cgroup counters")
    sub.add_parser("bench", help="the benchmark: our stack, then the floor; prints the table")
    sub.add_parser("e2e", help="the end-to-end check of `make test`")
    sub.add_parser("hostile", help="hostile requests over raw sockets, then valid POSTs (hostile.py's options)")
    sub.add_parser("soak", help="constant-rate POSTs for DURATION s, then lost/double counts and memory")
    sub.add_parser("chaos", help="fault plans under steady load, then lost/double/mismatch counts (chaos.py's options)")
    sub.add_parser("test", help="every step of `make test`")
    p_sup = sub.add_parser("supervise", help=argparse.SUPPRESS)
    p_sup.add_argument("run_dir", type=Path)
    args, rest = parser.parse_known_args(argv)
    if rest and args.cmd not in ("hostile", "chaos"):  # they parse options of their own
        parser.error(f"unrecognized arguments: {' '.join(rest)}")

    layout.load_tools_env()
    if args.cmd == "supervise":
        import supervisor

        return supervisor.main(args.run_dir)

    if args.cmd in STARTS_STACK:
        import stacklock

        with stacklock.held():
            return run(args, rest)
    return run(args, rest)


def run(args: argparse.Namespace, rest: list[str]) -> int:
    """One command (the lock, if it needs one, is already held)."""
    import control

    try:
        if args.cmd == "up":
            fees = None
            if args.emulators and os.environ.get("SCHEDULE"):  # emulators charge the schedule's fees
                import k6run

                fees = k6run.schedule(os.environ["SCHEDULE"])["fees"]
            control.up(emulators=args.emulators, purge=args.purge, keep_state=args.keep_state,
                       mode="floor" if args.floor else args.bound or "stack", fees=fees)
            return 0
        if args.cmd == "down":
            control.down()
            return 0
        if args.cmd == "status":
            return control.status()
        if args.cmd == "bench":
            import bench

            return bench.main()
        if args.cmd == "e2e":
            import e2e

            return e2e.main()
        if args.cmd == "hostile":
            import hostile

            return hostile.main(rest)
        if args.cmd == "soak":
            import soak

            return soak.main()
        if args.cmd == "chaos":
            import chaos

            return chaos.main(rest)
        if args.cmd == "test":
            import testsuite

            return testsuite.main()
    except control.UpError as exc:
        print(f"[stack] up failed: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        control.down(quiet=True)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
