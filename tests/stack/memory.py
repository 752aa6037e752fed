"""Memory measured as what it is: Redis's `used_memory` and each service's anonymous RSS.

Why not the cgroup's peak: under cgroup v1 it counts page cache, and Redis's append-only file fills the
page cache at the rate payments arrive, so the peak grows with traffic even when nothing leaks. What can
exhaust a cap is anonymous memory (heap, stacks, a fork's copied pages): RssAnon from /proc/<pid>/status,
summed over every process in the service's cgroup (nginx workers, PostgreSQL backends, a Redis fork).
Python 3 standard library only.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import cgroups
import control


# -- Redis over its unix socket ------------------------------------------------------------------------------
def resp_command(*args: str) -> bytes:
    """One command as RESP puts it on the wire: an array of bulk strings."""
    return f"*{len(args)}\r\n".encode() + b"".join(f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args)


def start_redis(bin_path: str, workdir: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """A scratch redis-server listening only on `workdir`/redis.sock (its data in `workdir` too), with `args`
    added to its command line; returns once the socket exists, with the process and the socket's path."""
    sock_path = str(workdir / "redis.sock")
    proc = subprocess.Popen([bin_path, "--port", "0", "--unixsocket", sock_path, "--dir", str(workdir), *args],
                            stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not Path(sock_path).exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise OSError("redis-server did not open its socket")
        time.sleep(0.05)
    return proc, sock_path


def redis_command(sock_path: str, *args: str, timeout: float = 2.0) -> bytes | list | None:
    """One command in RESP; returns its reply: a bulk string's bytes, a list for an array (nested as
    RESP nests it), None for a null, else the status, error or integer line (b"+OK", b"-ERR ...", b":1")."""
    msg = resp_command(*args)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(sock_path)
        sock.sendall(msg)
        return RespReader(sock).reply()


class RespReader:
    """Reads one RESP2 reply off a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise OSError("redis closed the connection")
        self.buf += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def reply(self) -> bytes | list | None:
        first = self._line()
        kind, size = first[:1], first[1:]
        if kind == b"$":
            n = int(size)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(size)
            return None if n < 0 else [self.reply() for _ in range(n)]
        return first


def redis_info(sock_path: str) -> dict[str, str]:
    """INFO (every default section) as a flat dict of strings."""
    text = redis_command(sock_path, "INFO").decode(errors="replace")
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith("#"):
            out[key] = value
    return out


def info_int(info: dict, key: str) -> int | None:
    try:
        return int(info[key])
    except (KeyError, ValueError):
        return None


# -- processes ---------------------------------------------------------------------------------------------------
def status_kib(pid: int, field: str) -> int | None:
    """A `kB` field of /proc/<pid>/status (RssAnon, VmRSS…), or None when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def private_dirty_kib(pid: int) -> int | None:
    """Private_Dirty from smaps_rollup: for a fork, the pages it has copied (its real cost)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def group_anon_bytes(dirs: list[str]) -> tuple[int, int]:
    """(Σ RssAnon in bytes, number of processes) over every process in a service's cgroup."""
    total = count = 0
    for pid in cgroups.pids(dirs):
        kib = status_kib(pid, "RssAnon")
        if kib is not None:
            total += kib * 1024
            count += 1
    return total, count


# -- the sampler ----------------------------------------------------------------------------------------------
class Sampler:
    """Samples Redis and every service's anonymous RSS every `every_s` seconds in a background thread.

    Each sample is one flat dict (one CSV row): t (seconds since start), phase (what the caller set),
    redis_used_memory, redis_used_memory_rss, redis_keys, redis_aof_rewriting, and per service
    `<name>_anon` (bytes) and `<name>_procs`.
    """

    def __init__(self, run_dir: Path, every_s: float = 5.0):
        self.run_dir = run_dir
        self.every_s = every_s
        self.redis_sock = str(run_dir / "redis.sock")
        state = control.read_state(run_dir) or {}
        self.groups = state.get("cgroup", {}).get("groups", {})
        self.services = {name: s["group"] for name, s in state.get("services", {}).items()}
        self.samples: list[dict] = []
        self.phase = "start"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.t0 = time.monotonic()

    def sample(self) -> dict:
        row: dict = {"t": round(time.monotonic() - self.t0, 2), "phase": self.phase}
        try:
            info = redis_info(self.redis_sock)
        except OSError:
            info = {}
        row["redis_used_memory"] = info_int(info, "used_memory")
        row["redis_used_memory_rss"] = info_int(info, "used_memory_rss")
        row["redis_keys"] = sum(int(v.split(",")[0].split("=")[1]) for k, v in info.items()
                                if k.startswith("db") and "keys=" in v) if info else None
        row["redis_aof_rewriting"] = info_int(info, "aof_rewrite_in_progress")
        groups = {"load": "load"} | self.services
        for name, group in groups.items():
            if name.startswith("processor-"):
                continue  # the emulators share the `load` group with k6
            anon, procs = group_anon_bytes(self.groups.get(group, []))
            key = "load" if name == "load" else name
            row[f"{key}_anon"] = anon if procs else None
            row[f"{key}_procs"] = procs
        return row

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.sample())
            self._stop.wait(self.every_s)

    def start(self) -> "Sampler":
        self._thread.start()
        return self

    def stop(self) -> list[dict]:
        """Stops sampling after one last sample; a second call changes nothing."""
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            self.samples.append(self.sample())
        return self.samples

    def peaks(self) -> dict[str, int]:
        """The largest value of every numeric series (for the bench table)."""
        out: dict[str, int] = {}
        for row in self.samples:
            for key, value in row.items():
                if isinstance(value, int) and key not in ("t",) and not key.endswith("_procs"):
                    out[key] = max(out.get(key, 0), value)
        return out


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope (units per second) of (t, value) points; None with fewer than three."""
    pts = [(t, v) for t, v in points if v is not None]
    if len(pts) < 3:
        return None
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    mv = sum(v for _, v in pts) / n
    den = sum((t - mt) ** 2 for t, _ in pts)
    return sum((t - mt) * (v - mv) for t, v in pts) / den if den else None
