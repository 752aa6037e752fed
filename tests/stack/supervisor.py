"""The background supervisor `make up` leaves running: starts the stack in order, restarts what dies.

Why a separate long-lived process: `make up` must return once the stack is ready, yet a dead service has
to be restarted (and the restart counted) while the bench runs. The supervisor is that process; its pid
is `<run dir>/supervisor.pid` and it publishes what it knows in `<run dir>/state.json` (pids, readiness,
restarts, cgroup directories), which `up`, `down`, `status` and the bench read.

It is single-threaded on purpose: children are started with a `preexec_fn` (join the cgroup, drop to
the service user), which is only safe in a process without threads.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import caps as caps_mod
import cgroups
import services
from services import Options, Service

POLL_S = 0.2
STOP_TIMEOUT_S = 12.0  # the worker drains for up to 8 s after SIGTERM
MAX_BACKOFF_S = 5.0
ONESHOT_TIMEOUT_S = 60.0


@dataclass
class Proc:
    """A service's runtime record."""

    svc: Service
    popen: subprocess.Popen | None = None
    restarts: int = 0
    ready: bool = False
    last_exit: int | None = None
    next_start: float = 0.0
    failures_in_a_row: int = 0
    started_at: float = 0.0


class Supervisor:
    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.opts = Options.load(run_dir)
        self.caps = caps_mod.load()
        self.stopping = False
        self.error: str | None = None
        self.phase = "starting"
        self.backend: cgroups.Backend = cgroups.Backend("not set up yet")
        self.group_dirs: dict[str, list[str]] = {}
        self.uncapped_reason: str | None = None
        self.procs: dict[str, Proc] = {}
        self.user = self.opts.user

    # -- state -------------------------------------------------------------------------------------------
    def log(self, msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} supervisor: {msg}", flush=True)

    def write_state(self) -> None:
        """Atomically publish the state (rename), so readers never see half a file."""
        state = {
            "supervisor_pid": os.getpid(),
            "mode": self.opts.mode,
            "phase": self.phase,
            "error": self.error,
            "uncapped": self.uncapped_reason,
            "cgroup": {"kind": self.backend.kind, "groups": self.group_dirs, "parents": self.backend.parents},
            "services": {
                name: {
                    "pid": p.popen.pid if p.popen and p.popen.poll() is None else None,
                    "ready": p.ready, "restarts": p.restarts, "last_exit": p.last_exit,
                    "group": p.svc.group, "cap": p.svc.cap,
                }
                for name, p in self.procs.items()
            },
        }
        tmp = self.run_dir / "state.json.tmp"
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, self.run_dir / "state.json")

    # -- setup -------------------------------------------------------------------------------------------
    def setup_cgroups(self) -> None:
        """All services capped, or none: a partly capped stack would produce misleading numbers."""
        self.backend = cgroups.detect(self.opts.delegated)
        if self.backend.kind == "none":
            self.uncapped_reason = self.backend.reason
            return
        try:
            for group, cap_key in services.groups(self.opts).items():
                cap = self.caps[cap_key] if cap_key else None
                self.group_dirs[group] = self.backend.create(group, cap)
        except (cgroups.CapError, KeyError) as exc:
            self.uncapped_reason = str(exc)
            for dirs in self.group_dirs.values():
                cgroups.remove(dirs)
            cgroups.remove(self.backend.parents)
            self.group_dirs = {}
            self.backend = cgroups.Backend(str(exc))

    def run_as_user(self, argv: list[str], log_name: str, group: str, env: dict | None = None,
                    stdin: bytes | None = None) -> int:
        """A one-shot step (initdb, create database, migrate) as the service user in a service's cgroup,
        logged like a service. Bounded, so a hung step cannot keep the supervisor from stopping."""
        with open(self.run_dir / "logs" / f"{log_name}.log", "ab") as log:
            try:
                proc = subprocess.run(argv, input=stdin, stdout=log, stderr=subprocess.STDOUT, cwd=self.run_dir,
                                      env=env or services.base_env(), start_new_session=True,
                                      preexec_fn=self._preexec(self.group_dirs.get(group, []), as_root=False),
                                      timeout=ONESHOT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                return -1
        return proc.returncode

    def prepare_postgres(self) -> bool:
        """A fresh cluster unless KEEP_STATE=1 kept the old one: initdb, then CREATE DATABASE in single-user mode
        (the embedded PostgreSQL build ships no createdb or psql)."""
        pgdata = self.run_dir / "pg"
        if (pgdata / "PG_VERSION").exists():
            return True
        bindir = Path(self.opts.tools["pg_bindir"])
        rc = self.run_as_user([str(bindir / "initdb"), "-D", str(pgdata), "-U", services.PG_ROLE, "--auth=trust",
                               "-E", "UTF8", "--locale=C", "--no-instructions", "--no-sync"], "initdb", "postgres")
        if rc != 0:
            self.error = f"initdb failed (exit {rc}), see logs/initdb.log"
            return False
        rc = self.run_as_user([str(bindir / "postgres"), "--single", "-D", str(pgdata), "postgres"], "initdb",
                              "postgres", stdin=f"CREATE DATABASE {services.PG_DB};\n".encode())
        if rc != 0:
            self.error = f"CREATE DATABASE failed (exit {rc}), see logs/initdb.log"
        return rc == 0

    def migrate(self) -> bool:
        rc = self.run_as_user([self.opts.tools["rinha"], "migrate"], "migrate", "worker", env=services.rinha_env(self.opts))
        if rc != 0:
            self.error = f"`rinha migrate` failed (exit {rc}), see logs/migrate.log"
        return rc == 0

    # -- processes ---------------------------------------------------------------------------------------
    def _preexec(self, dirs: list[str], as_root: bool):
        """Runs in the child between fork and exec: join the cgroup (as root), then drop privileges."""
        user = self.user
        switch = os.geteuid() == 0 and user["uid"] != 0 and not as_root

        def preexec() -> None:
            cgroups.join(dirs)
            if switch:
                os.setgroups([])
                os.setgid(user["gid"])
                os.setuid(user["uid"])

        return preexec

    def spawn(self, proc: Proc) -> None:
        svc = proc.svc
        for sock in svc.sockets:
            try:
                os.unlink(sock)
            except FileNotFoundError:
                pass
        log = open(self.run_dir / "logs" / f"{svc.name}.log", "ab")
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} start #{proc.restarts + 1}: {' '.join(svc.argv)}\n".encode())
        log.flush()
        proc.popen = subprocess.Popen(svc.argv, env=svc.env, stdin=subprocess.DEVNULL, stdout=log,
                                      stderr=subprocess.STDOUT, cwd=self.run_dir, start_new_session=True,
                                      preexec_fn=self._preexec(self.group_dirs.get(svc.group, []), svc.as_root))
        log.close()
        proc.ready = False
        proc.started_at = time.monotonic()
        self.log(f"started {svc.name} pid {proc.popen.pid}")

    def check(self, proc: Proc) -> bool:
        """Reap, restart with backoff, probe readiness; True when something changed (state must be written)."""
        now = time.monotonic()
        if proc.popen is None:
            if now >= proc.next_start and not self.stopping:
                self.spawn(proc)
                return True
            return False
        rc = proc.popen.poll()
        if rc is not None:
            proc.last_exit = rc
            proc.popen = None
            proc.ready = False
            if self.stopping:
                return True
            proc.restarts += 1
            quick = now - proc.started_at < 10
            proc.failures_in_a_row = proc.failures_in_a_row + 1 if quick else 0
            delay = min(0.5 * 2 ** proc.failures_in_a_row, MAX_BACKOFF_S) if quick else 0.0
            proc.next_start = now + delay
            self.log(f"{proc.svc.name} exited with {rc}; restart #{proc.restarts} in {delay:.1f} s")
            return True
        if not proc.ready and proc.svc.ready():
            proc.ready = True
            self.log(f"{proc.svc.name} ready after {now - proc.started_at:.2f} s")
            return True
        return False

    def wait_ready(self, phase: list[Proc]) -> None:
        """Block until every process of the phase is ready, still restarting whatever dies meanwhile."""
        while not self.stopping:
            changed = False
            for p in self.procs.values():
                changed |= self.check(p)
            if changed:
                self.write_state()
            if all(p.ready for p in phase):
                return
            time.sleep(POLL_S)

    def stop(self, phase: list[Proc]) -> None:
        """Polite signal to the whole phase at once, then SIGKILL (process group and cgroup) after the timeout."""
        for p in phase:
            if p.popen and p.popen.poll() is None:
                try:
                    os.kill(p.popen.pid, p.svc.stop_signal)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for p in phase:
            if p.popen is None:
                continue
            try:
                p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(f"{p.svc.name} did not stop in {STOP_TIMEOUT_S:.0f} s: SIGKILL")
                try:
                    os.killpg(p.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.popen.wait()
            p.last_exit = p.popen.returncode
            try:  # orphans of the session (a worker whose master died) go too
                os.killpg(p.popen.pid, signal.SIGKILL)
            except OSError:
                pass
            p.popen = None
            p.ready = False

    # -- main --------------------------------------------------------------------------------------------
    def on_signal(self, signum, frame) -> None:
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        (self.run_dir / "supervisor.pid").write_text(f"{os.getpid()}\n")
        raise_nofile_limit()
        self.setup_cgroups()
        if self.uncapped_reason:
            self.log(f"UNCAPPED: {self.uncapped_reason}")
        phases = [[Proc(svc) for svc in phase] for phase in services.phases(self.opts)]
        # One-shot steps, each run when the phases before it are ready: the cluster before PostgreSQL starts,
        # the migrations once it answers (Redis comes right after PostgreSQL) and before any role uses it. The
        # bounds have no PostgreSQL (the intake bound starts Redis first).
        before_phase = {"postgres": self.prepare_postgres, "redis": self.migrate} if self.opts.mode == "stack" else {}
        self.write_state()
        try:
            for phase in phases:
                if self.stopping:
                    break
                hook = before_phase.get(phase[0].svc.name)
                if hook and not hook():
                    break
                for p in phase:
                    self.procs[p.svc.name] = p
                self.write_state()
                self.wait_ready(phase)
            if self.error:
                self.log(f"error: {self.error}")
            else:
                self.phase = "running"
            self.write_state()
            while not self.stopping:
                if any([self.check(p) for p in self.procs.values()]):
                    self.write_state()
                time.sleep(POLL_S)
        finally:
            self.phase = "stopping"
            self.write_state()
            for phase in reversed(phases):
                self.stop([p for p in phase if p.svc.name in self.procs])
            self.cleanup_cgroups()
            self.phase = "stopped"
            self.write_state()
            try:
                (self.run_dir / "supervisor.pid").unlink()
            except FileNotFoundError:
                pass
            self.log("stopped")
        return 0

    def cleanup_cgroups(self) -> None:
        """Kill stragglers (e.g. a PostgreSQL backend or a k6 left in `load`) and remove every group."""
        for dirs in self.group_dirs.values():
            left = cgroups.kill_all(dirs)
            if left:
                self.log(f"processes would not die: {sorted(left)}")
            cgroups.remove(dirs)
        failed = cgroups.remove(self.backend.parents)
        if failed:
            self.log(f"could not remove {failed}")


def raise_nofile_limit() -> None:
    """600+ clients through one nginx worker need more descriptors than the usual 1024; children inherit this."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for want in (65536, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
            return
        except (ValueError, OSError):
            continue


def main(run_dir: Path) -> int:
    os.umask(0o022)
    return Supervisor(run_dir).run()
