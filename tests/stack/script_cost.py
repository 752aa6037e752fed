"""What the worker's Redis scripts cost Redis: server-side µs per call, this tree's scripts against a git revision's.

A script holds Redis for its whole run, and every POST that arrives meanwhile waits behind it; the bench's
slow log catches the long ones, this measures the typical one. A scratch redis-server with the deployed
settings (nix/settings.json: AOF fsynced every second) on a temp dir, a stream of `--entries` entries
delivered to one consumer, then for each script (`set_attempt.lua`, `refresh.lua`) `--calls` calls of
`--batch` entries at a time (the worker's MAX_REDIS_BATCH), this tree's and the base's alternating for
`--rounds` rounds; each round's figure is Redis's own `usec_per_call` (INFO commandstats, reset before it).
Prints the medians and their ratio.

    python3 tests/stack/script_cost.py --base HEAD~1

Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import tempfile
from pathlib import Path

import layout
import memory
import services

SCRIPTS = ("set_attempt.lua", "refresh.lua")
STREAM, GROUP, CONSUMER, ATTEMPTS = "rinha:payments", "workers", "worker", "rinha:attempts"


class Scratch:
    """A redis-server on a unix socket in a temp dir, with one pipelining connection."""

    def __init__(self, bin_path: str, workdir: Path) -> None:
        deployed = [arg for key, value in services.settings()["redis"].items() for arg in (f"--{key}", str(value))]
        self.proc, sock_path = memory.start_redis(bin_path, workdir, *deployed, "--logfile", "")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sock_path)
        self.reader = memory.RespReader(self.sock)

    def pipeline(self, commands: list[tuple[str, ...]]) -> list:
        self.sock.sendall(b"".join(memory.resp_command(*c) for c in commands))
        replies = [self.reader.reply() for _ in commands]
        errors = [r for r in replies if isinstance(r, bytes) and r.startswith(b"-")]
        if errors:
            raise SystemExit(f"redis said {errors[0].decode(errors='replace')}")
        return replies

    def close(self) -> None:
        self.sock.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


def script_text(name: str, rev: str | None) -> str:
    path = f"src/queue/{name}"
    if rev is None:
        return (layout.REPO / path).read_text()
    return subprocess.run(["git", "-C", str(layout.REPO), "show", f"{rev}:{path}"], check=True,
                          capture_output=True, text=True).stdout


def prepare(redis: Scratch, entries: int) -> list[str]:
    """A stream of `entries` entries, all pending for CONSUMER; returns their ids in stream order."""
    redis.pipeline([("XGROUP", "CREATE", STREAM, GROUP, "$", "MKSTREAM")])
    redis.pipeline([("XADD", STREAM, "*", "id", f"{n:036d}", "cents", "1990", "at", "0") for n in range(entries)])
    reply = redis.pipeline([("XREADGROUP", "GROUP", GROUP, CONSUMER, "COUNT", str(entries), "STREAMS", STREAM, ">")])
    return [row[0].decode() for row in reply[0][0][1]]


def calls(name: str, sha: str, ids: list[str], batch: int, count: int) -> list[tuple[str, ...]]:
    """`count` calls of the script, each over `batch` held entries spread over the stream (as the worker's
    held map hands them out: in no particular order)."""
    stride = max(1, len(ids) // batch)
    out = []
    for c in range(count):
        chunk = [ids[(c + i * stride) % len(ids)] for i in range(batch)]
        if name == "refresh.lua":
            out.append(("EVALSHA", sha, "1", STREAM, GROUP, CONSUMER, *chunk))
        else:
            args = []
            for i, entry in enumerate(chunk):
                args += [entry, f"00000000-0000-4000-8000-{i:012x}", f"d:{1796600000000 + c}:0"]
            out.append(("EVALSHA", sha, "2", STREAM, ATTEMPTS, GROUP, CONSUMER, *args))
    return out


def usec_per_call(redis: Scratch, commands: list[tuple[str, ...]]) -> float:
    redis.pipeline([("CONFIG", "RESETSTAT")])
    for i in range(0, len(commands), 50):
        redis.pipeline(commands[i:i + 50])
    stats = redis.pipeline([("INFO", "commandstats")])[0].decode()
    line = next(ln for ln in stats.splitlines() if ln.startswith("cmdstat_evalsha:"))
    return float(line.split("usec_per_call=")[1].split(",")[0])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="git revision whose scripts are compared with this tree's")
    ap.add_argument("--entries", type=int, default=1200, help="entries the consumer holds (default 1200)")
    ap.add_argument("--batch", type=int, default=64, help="entries per call (default 64)")
    ap.add_argument("--calls", type=int, default=300, help="calls per round (default 300)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds, alternating base and tree (default 5)")
    args = ap.parse_args()
    bin_path = layout.redis_bin()
    if not bin_path:
        raise SystemExit("no redis-server (make tools)")
    with tempfile.TemporaryDirectory(prefix="script-cost-") as tmp:
        redis = Scratch(bin_path, Path(tmp))
        try:
            ids = prepare(redis, args.entries)
            print(f"{args.entries} held entries, {args.batch} per call, {args.calls} calls per round, "
                  f"{args.rounds} rounds; Redis µs per call (INFO commandstats)")
            print(f"{'script':<16}{'base ' + args.base:>16}{'tree':>12}{'tree/base':>12}")
            for name in SCRIPTS:
                figures: dict[str, list[float]] = {"base": [], "tree": []}
                shas = {side: redis.pipeline([("SCRIPT", "LOAD", script_text(name, rev))])[0].decode()
                        for side, rev in (("base", args.base), ("tree", None))}
                for _ in range(args.rounds):
                    for side in ("base", "tree"):
                        figures[side].append(usec_per_call(redis, calls(name, shas[side], ids, args.batch, args.calls)))
                base, tree = (statistics.median(figures[s]) for s in ("base", "tree"))
                print(f"{name:<16}{base:>16.1f}{tree:>12.1f}{tree / base:>12.2f}")
        finally:
            redis.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
