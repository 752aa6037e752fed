"""`up`, `down` and `status`: the contract an outside checker relies on (issue 3's table).

`up` prepares the run dir, launches the supervisor in the background and waits (≤ 60 s) until every role
is ready and GET :9999/payments-summary answers 200; on failure it prints the log tails, cleans up and
fails. `down` stops whatever the last `up` started, even when its supervisor is already dead, and is
idempotent.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import caps as caps_mod
import cgroups
import layout
import probe
import services
from services import Options

READY_TIMEOUT_S = 60.0
SUPERVISOR_STOP_TIMEOUT_S = 45.0  # the supervisor stops phases one after the other, each ≤ 12 s
CRASH_LOOP_RESTARTS = 4  # a role that exits this often before it was ever ready is broken, not slow


class UpError(RuntimeError):
    """`up` refused or failed; the message says why."""


def say(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


def banner(msg: str) -> None:
    """Loud on purpose: an uncapped run's numbers are not comparable with capped ones."""
    line = "!" * 78
    print(f"\n{line}\n!!! {msg}\n{line}\n", file=sys.stderr, flush=True)


# -- helpers ----------------------------------------------------------------------------------------------
def read_state(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def supervisor_pid(run_dir: Path) -> int | None:
    """The live supervisor's pid, or None (a stale pid file from a killed supervisor does not count)."""
    try:
        pid = int((run_dir / "supervisor.pid").read_text())
    except (FileNotFoundError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if b"supervise" in cmdline else None


def systemd_is_init() -> bool:
    try:
        return Path("/proc/1/comm").read_text().strip() == "systemd"
    except OSError:
        return False


def tools(emulators: bool, mode: str) -> dict:
    """Locate every binary up front, so a missing one is one clear message instead of a crash loop."""
    found = {
        "pg_bindir": str(layout.pg_bindir() or ""),
        "redis": layout.redis_bin() or "",
        "nginx": layout.nginx_bin() or "",
        "rinha": str(layout.rinha_bin()),
        "processor": str(layout.processor_bin()),
        "intake": str(layout.intake_bin()),
    }
    needed = {"nginx": found["nginx"]}
    if mode in services.REDIS_MODES:
        needed["redis"] = found["redis"]
    if mode == "stack":
        needed.update(rinha=found["rinha"], postgres=found["pg_bindir"] and str(Path(found["pg_bindir"]) / "postgres"))
    if mode == "intake":
        needed["bound_intake"] = found["intake"]
    if emulators:
        needed["payment-processor"] = found["processor"]
    missing = [f"{k} ({v or 'not found'})" for k, v in needed.items() if not v or not os.access(v, os.X_OK)]
    if missing:
        raise UpError("missing binaries: " + ", ".join(missing)
                      + " — run `bash tests/tools/install-deps.sh` and `cargo build --release --bins`"
                      + (" --example bound_intake" if mode == "intake" else ""))
    return found


def links_setting() -> str:
    """How the runner wires nginx → APIs and rinha → Redis: LINKS from the environment, else the default."""
    return os.environ.get("LINKS") or services.DEFAULT_LINKS


def prepare_run_dir(run_dir: Path, user: layout.RunAs, keep_state: bool) -> None:
    """Logs are per run; PostgreSQL and Redis data are fresh unless KEEP_STATE=1."""
    run_dir.mkdir(parents=True, exist_ok=True)
    # The bound's stand-ins leave their configs and nginx temp dirs (api1.conf, api1-client_body, ...).
    stand_ins = [p.name for n in services.API_NAMES for p in run_dir.glob(f"{n}[.-]*") if not p.name.endswith(".sock")]
    for name in ("logs", "nginx", "state.json", "stack.json", "nginx.conf", *stand_ins):
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    if not keep_state:
        for name in ("pg", "redis"):
            shutil.rmtree(run_dir / name, ignore_errors=True)
    for name in ("logs", "nginx", "redis"):
        (run_dir / name).mkdir(exist_ok=True)
    os.chmod(run_dir, 0o755)
    if os.geteuid() == 0:
        # The service user creates sockets in the run dir and owns its data; logs stay root's (appended by
        # the supervisor's file descriptors, not reopened by the services).
        for path in [run_dir, run_dir / "redis"] + ([run_dir / "pg"] if (run_dir / "pg").exists() else []):
            os.chown(path, user.uid, user.gid)


def install_binaries(found: dict, run_dir: Path, user: layout.RunAs) -> dict:
    """Copy our own binaries into the run dir and check the others are reachable by the service user.

    Why copy: a checkout under a 0700 home is not executable by the service user, and a `cargo build`
    during a bench must not swap the binary under a running stack.
    """
    found = dict(found)
    bindir = run_dir / "bin"
    bindir.mkdir(exist_ok=True)
    for key in ("rinha", "processor", "intake"):
        src = Path(found[key])
        if src.exists():
            dst = bindir / src.name
            shutil.copy2(src, dst)
            os.chmod(dst, 0o755)
            found[key] = str(dst)
    if user.switch:
        for key in ("pg_bindir", "redis", "nginx"):
            path = Path(found[key]) if found[key] else None
            blocked = path and next((p for p in [path, *path.parents] if p.exists() and not os.stat(p).st_mode & 0o001), None)
            if blocked:
                raise UpError(f"{key} {path} is not reachable by user {user.name} ({blocked} is not world-searchable); "
                              "install the tools outside a private home (tests/tools/install-deps.sh does)")
    return found


def launch_supervisor(run_dir: Path, delegated: bool) -> int:
    """Start the supervisor detached (own session, stdin closed), under a delegated systemd scope when
    systemd is PID 1, since systemd owns the cgroup tree there and moves foreign processes back."""
    argv = [sys.executable, str(Path(__file__).with_name("stack.py")), "supervise", str(run_dir)]
    if delegated:
        argv = ["systemd-run", "--quiet", "--scope", "--collect", f"--unit=rinha-stack-{int(time.time())}",
                "-p", "Delegate=yes", "--"] + argv
    log = open(run_dir / "logs" / "supervisor.log", "ab")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=layout.REPO)
    log.close()
    return proc.pid


def tail_logs(run_dir: Path, lines: int = 25) -> None:
    for log in sorted((run_dir / "logs").glob("*.log")):
        text = log.read_text(errors="replace").splitlines()
        print(f"----- {log} (last {min(lines, len(text))} lines) -----", file=sys.stderr)
        for line in text[-lines:]:
            print(f"  {line}", file=sys.stderr)


# -- up -----------------------------------------------------------------------------------------------------
def up(emulators: bool = False, purge: bool = False, keep_state: bool = False, mode: str = "stack",
       fees: dict | None = None, workers: int = 1) -> Path:
    """Start the stack (or the floor) and return the run dir once everything is ready; raises UpError.

    `fees` (default 0.05/0.15) are the emulators' fees; the bench passes the schedule's. `workers` > 1
    (the fault suite) starts more worker processes, all in the worker's cgroup.
    """
    fees = dict(fees or services.DEFAULT_FEES)
    previous = layout.recorded_run_dir()
    if previous and supervisor_pid(previous):
        raise UpError(f"a stack is already up (run dir {previous}); `make down` first")
    if previous:
        down(quiet=True)  # leftovers of a crashed run: processes, cgroups
    if probe.port_busy(9999):
        raise UpError("port 9999 is busy; refusing to start (is another stack or nginx running?)")
    if emulators:
        for port in (8001, 8002):
            if probe.port_busy(port):
                raise UpError(f"EMULATORS=1 but port {port} is busy")
    links = links_setting()
    if links not in services.LINKS:
        raise UpError(f"LINKS={links}: expected one of {', '.join(services.LINKS)}")
    found = tools(emulators, mode)
    caps = caps_mod.load()
    user = layout.service_user()
    run_dir = layout.run_dir()
    prepare_run_dir(run_dir, user, keep_state)
    found = install_binaries(found, run_dir, user)
    delegated = systemd_is_init() and (cgroups.ROOT / "cgroup.controllers").exists() and bool(shutil.which("systemd-run"))
    opts = Options(
        run_dir=str(run_dir), mode=mode, emulators=emulators, purge=purge, keep_state=keep_state,
        user={"name": user.name, "uid": user.uid, "gid": user.gid}, tools=found,
        service_env=services.caller_service_env(dict(os.environ), fees if emulators else None), fees=fees,
        redis_maxmemory_mib=int(caps["redis"].extra.get("maxmemory_mib", caps["redis"].memory_mib * 3 // 4)),
        delegated=delegated, purge_token=os.environ.get("RINHA_PURGE_TOKEN") or secrets.token_hex(16),
        workers=workers, links=links,
    )
    busy = [port for port in services.tcp_ports(opts) if probe.port_busy(port)]
    if busy:
        raise UpError(f"LINKS={links} but port(s) {', '.join(map(str, busy))} are busy")
    opts.save()
    services.render_nginx(opts)
    layout.TARGET.mkdir(exist_ok=True)
    layout.RUN_DIR_FILE.write_text(f"{run_dir}\n")
    say(f"run dir {run_dir} (services run as {user.name}); mode {mode}"
        + (", emulators on :8001/:8002" if emulators else "") + (", purge enabled" if purge else ""))
    launch_supervisor(run_dir, delegated)
    try:
        wait_ready(run_dir, opts)
    except UpError:
        tail_logs(run_dir)
        down(quiet=True)
        raise
    return run_dir


def wait_ready(run_dir: Path, opts: Options) -> None:
    """Poll the supervisor's state and the front door until all roles are ready, printing progress."""
    start = time.monotonic()
    expected = [svc.name for svc in services.all_services(opts)]
    seen: set[str] = set()
    warned = False
    while True:
        elapsed = time.monotonic() - start
        state = read_state(run_dir) or {}
        if state.get("uncapped") and not warned:
            banner(f"UNCAPPED: services run without CPU/memory caps ({state['uncapped']})")
            warned = True
        if state.get("error"):
            raise UpError(state["error"])
        svcs = state.get("services", {})
        looping = [n for n, s in svcs.items() if s.get("restarts", 0) >= CRASH_LOOP_RESTARTS and not s.get("ready")]
        if looping:  # no point waiting out the 60 s: it will not come up by itself
            name = looping[0]
            raise UpError(f"{name} keeps exiting during start-up (last exit {svcs[name].get('last_exit')}); "
                          f"see {run_dir}/logs/{name}.log")
        for name in expected:
            if svcs.get(name, {}).get("ready") and name not in seen:
                seen.add(name)
                say(f"  {name:<20} ready  (+{elapsed:4.1f} s)")
        if state.get("phase") in ("stopping", "stopped") or (elapsed > 3 and not supervisor_pid(run_dir)):
            raise UpError("the supervisor stopped during start-up")
        if len(seen) == len(expected) and probe.http_ok("127.0.0.1:9999", "/payments-summary"):
            kind = state.get("cgroup", {}).get("kind", "none")
            say(f"up in {elapsed:.1f} s: GET :9999/payments-summary → 200; cgroups: {kind}"
                + (" (UNCAPPED)" if state.get("uncapped") else ", capped from nix/caps.json"))
            return
        if elapsed > READY_TIMEOUT_S:
            missing = [n for n in expected if n not in seen]
            raise UpError(f"not ready within {READY_TIMEOUT_S:.0f} s; waiting for: {', '.join(missing) or 'nginx :9999'}")
        time.sleep(0.2)


# -- down ---------------------------------------------------------------------------------------------------
def down(quiet: bool = False) -> list[str]:
    """Stop everything the last `up` started and remove its cgroups; returns what could not be cleaned."""
    run_dir = layout.recorded_run_dir()
    if run_dir is None or not run_dir.exists():
        if not quiet:
            say("nothing to stop")
        return []
    pid = supervisor_pid(run_dir)
    if pid:
        if not quiet:
            say(f"stopping supervisor {pid} (it stops the services in reverse order)")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + SUPERVISOR_STOP_TIMEOUT_S
        while supervisor_pid(run_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        if supervisor_pid(run_dir):
            say("supervisor did not stop in time: SIGKILL")
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
    problems = sweep(run_dir)
    if not quiet:
        say("down" + (f"; left behind: {problems}" if problems else ": no process and no cgroup left"))
    return problems


def sweep(run_dir: Path) -> list[str]:
    """Backstop after the supervisor: kill any process still in our cgroups or recorded in the state,
    remove the cgroups. Catches a supervisor that was SIGKILLed or crashed."""
    state = read_state(run_dir) or {}
    problems: list[str] = []
    group_dirs = state.get("cgroup", {}).get("groups", {})
    for dirs in group_dirs.values():
        left = cgroups.kill_all(dirs)
        if left:
            problems.append(f"pids {sorted(left)} in {dirs}")
        problems += [f"cgroup {d}" for d in cgroups.remove(dirs)]
    problems += [f"cgroup {d}" for d in cgroups.remove(state.get("cgroup", {}).get("parents", []))]
    for name, svc in state.get("services", {}).items():
        pid = svc.get("pid")
        if pid and _is_ours(pid, run_dir):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
    for sock in run_dir.glob("*.sock"):
        sock.unlink(missing_ok=True)
    (run_dir / "supervisor.pid").unlink(missing_ok=True)
    return problems


def _is_ours(pid: int, run_dir: Path) -> bool:
    """Guard against pid reuse: only a process whose command line or cwd points at our run dir."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return str(run_dir).encode() in cmd or cwd == str(run_dir)


def leftovers() -> list[str]:
    """What a clean `down` must not leave: live processes from the state, our cgroup dirs, a bound :9999."""
    run_dir = layout.recorded_run_dir()
    found = []
    if run_dir and run_dir.exists():
        if supervisor_pid(run_dir):
            found.append("supervisor still running")
        state = read_state(run_dir) or {}
        for name, svc in state.get("services", {}).items():
            pid = svc.get("pid")
            if pid and Path(f"/proc/{pid}").exists() and _is_ours(pid, run_dir):
                found.append(f"{name} pid {pid}")
        cg = state.get("cgroup", {})
        for d in [d for dirs in cg.get("groups", {}).values() for d in dirs] + cg.get("parents", []):
            if Path(d).exists():
                found.append(f"cgroup {d}")
    if probe.port_busy(9999):
        found.append("port 9999 still bound")
    return found


# -- status -------------------------------------------------------------------------------------------------
def service_stats(run_dir: Path) -> dict[str, dict]:
    """Per service: restarts and its cgroup's peak memory, CPU seconds and throttled periods."""
    state = read_state(run_dir) or {}
    groups = state.get("cgroup", {}).get("groups", {})
    out = {}
    for name, svc in state.get("services", {}).items():
        row = cgroups.stats(groups.get(svc["group"], []))
        row.update(restarts=svc["restarts"], cap=svc["cap"], group=svc["group"])
        out[name] = row
    if "load" in groups:
        out["load (k6+emulators)"] = cgroups.stats(groups["load"]) | {"restarts": None, "cap": None, "group": "load"}
    return out


def status() -> int:
    run_dir = layout.recorded_run_dir()
    if not run_dir or not supervisor_pid(run_dir):
        say("down")
        return 3
    state = read_state(run_dir) or {}
    say(f"run dir {run_dir}; supervisor {supervisor_pid(run_dir)}; phase {state.get('phase')}; "
        f"cgroups {state.get('cgroup', {}).get('kind')}" + (" UNCAPPED" if state.get("uncapped") else ""))
    stats = service_stats(run_dir)
    print(f"{'service':<22}{'pid':>8}{'ready':>7}{'restarts':>9}{'peak MiB':>10}{'CPU s':>8}{'throttled':>10}")
    for name, svc in state.get("services", {}).items():
        st = stats.get(name, {})
        peak = st.get("memory_peak_bytes")
        cpu = st.get("cpu_seconds")
        print(f"{name:<22}{svc.get('pid') or '-':>8}{'yes' if svc['ready'] else 'no':>7}{svc['restarts']:>9}"
              f"{peak / 2**20 if peak is not None else float('nan'):>10.1f}"
              f"{cpu if cpu is not None else float('nan'):>8.2f}{st.get('nr_throttled') if st.get('nr_throttled') is not None else '-':>10}")
    return 0
