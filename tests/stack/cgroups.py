"""One cgroup per service, capped from nix/caps.json, on cgroup v2 or v1; or loudly none at all.

Why cgroups and not `ulimit`/`taskset`: the contest caps each container's CPU *time* (CFS quota) and
memory, and a quota is what makes a 0.2-CPU nginx behave like the judged one. The same groups give the
bench its per-service peak memory, CPU seconds and throttled periods.

Layouts:
- v2 (unified): `<base>/<service>` leaves with cpu.max / memory.max. Under systemd (PID 1) the
  supervisor is started by `systemd-run --scope -p Delegate=yes`, so <base> is that delegated scope
  (the supervisor moves itself into `<base>/supervisor`, since v2 forbids processes in inner nodes);
  elsewhere <base> is /sys/fs/cgroup/rinha.
- v1: `/sys/fs/cgroup/{cpu,cpuacct,memory}/rinha/<service>` with cfs_quota_us / limit_in_bytes, and cpu.shares from the entry's cpu_weight.

The state file records every directory, so `down` can empty and remove them even when the supervisor
that made them is gone. Functions that act on recorded dirs are plain functions for that reason.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from caps import Cap

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000
NAME = os.environ.get("RINHA_CGROUP_NAME", "rinha")


class CapError(RuntimeError):
    """A group could not be created or capped: the caller reports UNCAPPED instead of pretending."""


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as exc:
        raise CapError(f"cannot write {value!r} to {path}: {exc}") from exc


class Backend:
    """The 'no cgroups' backend: processes still run (and are supervised), but nothing is capped or measured."""

    kind = "none"

    def __init__(self, reason: str):
        self.reason = reason
        self.parents: list[str] = []

    def create(self, group: str, cap: Cap | None) -> list[str]:
        return []


class V1(Backend):
    """cgroup v1: separate hierarchies for cpu, cpuacct (CPU seconds) and memory."""

    kind = "v1"
    CONTROLLERS = ("cpu", "cpuacct", "memory")

    def __init__(self) -> None:
        super().__init__("")
        roots = []
        for ctrl in self.CONTROLLERS:
            root = (ROOT / ctrl).resolve()  # cpu and cpuacct are often one co-mounted hierarchy
            if root.is_dir() and root not in roots:
                roots.append(root)
        self.roots = roots
        self.parents = [str(r / NAME) for r in roots]
        for parent in self.parents:
            try:
                os.makedirs(parent, exist_ok=True)
            except OSError as exc:
                raise CapError(f"cannot create {parent}: {exc}") from exc

    def create(self, group: str, cap: Cap | None) -> list[str]:
        dirs = []
        for root in self.roots:
            d = root / NAME / group
            try:
                d.mkdir(exist_ok=True)
            except OSError as exc:
                raise CapError(f"cannot create {d}: {exc}") from exc
            dirs.append(str(d))
            if cap is None:
                continue
            if (d / "cpu.cfs_quota_us").exists():
                _write(d / "cpu.cfs_period_us", str(PERIOD_US))
                _write(d / "cpu.cfs_quota_us", str(cap.cpu_millicores * PERIOD_US // 1000))
                _write(d / "cpu.shares", str(cap.cpu_shares))
            if (d / "memory.limit_in_bytes").exists():
                _write(d / "memory.limit_in_bytes", str(cap.memory_bytes))
                if (d / "memory.memsw.limit_in_bytes").exists():  # no escape into swap either
                    _write(d / "memory.memsw.limit_in_bytes", str(cap.memory_bytes))
        return dirs


class V2(Backend):
    """cgroup v2: one leaf per service under a base whose subtree_control enables cpu and memory."""

    kind = "v2"

    def __init__(self, delegated: bool) -> None:
        super().__init__("")
        if delegated:
            own = Path("/proc/self/cgroup").read_text().splitlines()[-1].split("::", 1)[1]
            self.base = ROOT / own.lstrip("/")
            leaf = self.base / "supervisor"
            try:
                leaf.mkdir(exist_ok=True)
            except OSError as exc:
                raise CapError(f"cannot create {leaf}: {exc}") from exc
            _write(leaf / "cgroup.procs", str(os.getpid()))
            self.parents = []  # the scope (and its supervisor leaf) go away with the supervisor
        else:
            self.base = ROOT / NAME
            try:
                self.base.mkdir(exist_ok=True)
            except OSError as exc:
                raise CapError(f"cannot create {self.base}: {exc}") from exc
            try:
                _write(ROOT / "cgroup.subtree_control", "+cpu +memory")
            except CapError:
                pass  # usually enabled already; the write below tells the truth
            self.parents = [str(self.base)]
        _write(self.base / "cgroup.subtree_control", "+cpu +memory")

    def create(self, group: str, cap: Cap | None) -> list[str]:
        d = self.base / group
        try:
            d.mkdir(exist_ok=True)
        except OSError as exc:
            raise CapError(f"cannot create {d}: {exc}") from exc
        if cap is not None:
            _write(d / "cpu.max", f"{cap.cpu_millicores * PERIOD_US // 1000} {PERIOD_US}")
            _write(d / "cpu.weight", str(cap.cpu_weight))
            _write(d / "memory.max", str(cap.memory_bytes))
            if (d / "memory.swap.max").exists():
                _write(d / "memory.swap.max", "0")
        return [str(d)]


def detect(delegated: bool = False) -> Backend:
    """The best backend this machine allows; the 'none' backend carries the reason for the UNCAPPED banner."""
    if os.environ.get("RINHA_UNCAPPED") == "1":
        return Backend("RINHA_UNCAPPED=1 was set")
    try:
        if (ROOT / "cgroup.controllers").exists():
            return V2(delegated)
        if (ROOT / "cpu").is_dir() and (ROOT / "memory").is_dir():
            return V1()
    except CapError as exc:
        return Backend(str(exc))
    return Backend(f"no usable cgroup hierarchy under {ROOT}")


def join(dirs: list[str]) -> None:
    """Move the calling process into the groups. Runs in the child before exec, so every fork of it
    (nginx workers, PostgreSQL backends) is born inside the group."""
    pid = str(os.getpid())
    for d in dirs:
        with open(os.path.join(d, "cgroup.procs"), "w") as f:
            f.write(pid)


def pids(dirs: list[str]) -> set[int]:
    """Every process currently in the groups."""
    found: set[int] = set()
    for d in dirs:
        try:
            found.update(int(x) for x in Path(d, "cgroup.procs").read_text().split())
        except OSError:
            pass
    return found


def kill_all(dirs: list[str], timeout: float = 5.0) -> set[int]:
    """SIGKILL everything in the groups until they are empty; returns the pids that would not go."""
    deadline = time.monotonic() + timeout
    while True:
        left = pids(dirs)
        if not left or time.monotonic() > deadline:
            return left
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def remove(dirs: list[str]) -> list[str]:
    """rmdir the groups (deepest first); returns those that could not be removed."""
    failed = []
    for d in sorted(dirs, key=len, reverse=True):
        try:
            os.rmdir(d)
        except FileNotFoundError:
            pass
        except OSError:
            failed.append(d)
    return failed


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _read_kv(path: Path) -> dict[str, int]:
    try:
        return {k: int(v) for k, v in (line.split() for line in path.read_text().splitlines() if line.strip())}
    except (OSError, ValueError):
        return {}


def stats(dirs: list[str]) -> dict:
    """Peak memory (bytes), CPU seconds and throttled periods of a group, whichever version it is."""
    out: dict = {"memory_peak_bytes": None, "cpu_seconds": None, "nr_throttled": None}
    for d in map(Path, dirs):
        peak = _read_int(d / "memory.max_usage_in_bytes")  # v1
        if peak is None:
            peak = _read_int(d / "memory.peak")  # v2, kernel >= 5.19
        if peak is not None:
            out["memory_peak_bytes"] = peak
        usage_ns = _read_int(d / "cpuacct.usage")  # v1
        if usage_ns is not None:
            out["cpu_seconds"] = usage_ns / 1e9
        cpu_stat = _read_kv(d / "cpu.stat")
        if "usage_usec" in cpu_stat:  # v2
            out["cpu_seconds"] = cpu_stat["usage_usec"] / 1e6
        if "nr_throttled" in cpu_stat:
            out["nr_throttled"] = cpu_stat["nr_throttled"]
    return out
