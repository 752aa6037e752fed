"""What the native stack runs: each service's command line, environment, cap, readiness probe and order.

The options a stack was started with are frozen in `<run dir>/stack.json` by `up`, so the background
supervisor, `down`, `status` and the bench all see the same wiring without re-reading the caller's env.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import probe
from layout import NGINX_DIR, REPO

# PostgreSQL and Redis settings every deployment shares (the NixOS module and the images read the same
# file through nix/settings.nix); tests/nix/settings-drift.py checks that they reach the argv below.
SETTINGS_FILE = REPO / "nix" / "settings.json"

# Environment keys that configure this runner, not the service: never handed to `rinha`, whose
# configuration layer may reject unknown RINHA_* keys.
RUNNER_KEYS = {
    "RINHA_RUN_DIR", "RINHA_BIN", "RINHA_PROCESSOR_BIN", "RINHA_USER", "RINHA_PG_BINDIR", "RINHA_REDIS_BIN",
    "RINHA_NGINX_BIN", "RINHA_UNCAPPED", "RINHA_CGROUP_NAME",
}
# The wiring between our own processes; set by the runner, so a caller's value is overridden.
WIRING_KEYS = {"RINHA_LISTEN", "RINHA_WORKER_LISTEN", "RINHA_WORKER_NAME", "RINHA_WORKERS", "RINHA_REDIS_URL",
               "RINHA_POSTGRES_URL"}

PG_ROLE = "rinha"  # the database role and database name (initdb -U), independent of the OS account
PG_DB = "rinha"
EMULATOR_TOKEN = "123"
DEFAULT_FEES = {"default": "0.05", "fallback": "0.15"}
EMULATORS = (("processor-default", "127.0.0.1:8001", "default"), ("processor-fallback", "127.0.0.1:8002", "fallback"))
LOAD_GROUP = "load"  # k6 and the emulators: measured, never capped (they stand for the judge's machine)


@dataclass
class Service:
    """One long-running process the supervisor keeps alive."""

    name: str  # also its log file name
    argv: list[str]
    ready: Callable[[], bool]
    group: str  # cgroup it runs in
    cap: str | None  # key in nix/caps.json; None: measured but uncapped
    env: dict = field(default_factory=dict)
    stop_signal: int = signal.SIGTERM
    as_root: bool = False  # nginx's master stays root so that `user` can drop its workers
    sockets: list[str] = field(default_factory=list)  # stale sockets make bind() fail: removed first


@dataclass
class Options:
    """Everything `up` decided; saved as stack.json in the run dir."""

    run_dir: str
    # "stack" (the product), "floor" (nginx alone answering constants), "bound" (nginx → two constant nginx) or
    # "intake" (nginx → two stand-ins that XADD each POST to Redis: examples/bound_intake.rs)
    mode: str
    emulators: bool
    purge: bool
    keep_state: bool
    user: dict  # name, uid, gid
    tools: dict  # pg_bindir, redis, nginx, rinha, processor
    service_env: dict  # the caller's RINHA_* configuration, passed through
    redis_maxmemory_mib: int
    fees: dict = field(default_factory=lambda: dict(DEFAULT_FEES))  # emulators' fees (the schedule's)
    delegated: bool = False
    purge_token: str = ""  # sent by k6 as X-Purge-Token; RINHA_PURGE_TOKEN overrides it
    workers: int = 1  # worker processes; the extra ones (worker2, ...) share the worker's cgroup and cap
    links: str = "unix"  # how nginx reaches the APIs and rinha reaches Redis: one of LINKS (unix: older runs)

    def save(self) -> None:
        Path(self.run_dir, "stack.json").write_text(json.dumps(self.__dict__, indent=2) + "\n")

    @staticmethod
    def load(run_dir: Path) -> "Options":
        return Options(**json.loads((run_dir / "stack.json").read_text()))


def caller_service_env(environ: dict, fees: dict | None = None) -> dict:
    """The caller's service configuration (RINHA_* minus runner and wiring keys, plus RUST_LOG).

    With emulators the service must route on the fees the emulators charge (the schedule's), unless the
    caller set them explicitly.
    """
    env = {k: v for k, v in environ.items()
           if k.startswith("RINHA_") and k not in RUNNER_KEYS and k not in WIRING_KEYS}
    if fees:
        env.setdefault("RINHA_DEFAULT_FEE", fees["default"])
        env.setdefault("RINHA_FALLBACK_FEE", fees["fallback"])
    for k in ("RUST_LOG", "RUST_BACKTRACE"):
        if k in environ:
            env[k] = environ[k]
    return env


def base_env() -> dict:
    """A small, predictable environment for every child: no secrets or terminal state leak in."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "TZ": "UTC", "HOME": "/nonexistent", "NO_COLOR": "1"}


# nginx → APIs and rinha → Redis: loopback TCP, as the judges' compose file wires them (over its bridge
# network), or unix sockets in the run dir, as the NixOS module does. Redis keeps its unix socket either
# way, for the runner's own tools. PostgreSQL stays on its socket: the worker's batches are few.
# TCP by default: the bench should measure what the judges run, and a unix socket also wakes its writer
# (EPOLLOUT) each time the reader drains it, one more wake-up per hop for nginx and the APIs (README).
LINKS = ("tcp", "unix")
DEFAULT_LINKS = "tcp"
API_NAMES = ("api1", "api2")
API_PORTS = {"api1": 9981, "api2": 9982}
REDIS_PORT = 9983
# The modes that start Redis: the product, and the intake bound behind its stand-ins.
REDIS_MODES = ("stack", "intake")


def api_address(opts: Options, name: str) -> str:
    """Where `name` listens: `127.0.0.1:port` or `unix:/path` (RINHA_LISTEN's and probe's forms)."""
    return f"127.0.0.1:{API_PORTS[name]}" if opts.links == "tcp" else f"unix:{opts.run_dir}/{name}.sock"


def tcp_ports(opts: Options) -> list[int]:
    """The loopback ports this stack binds besides 9999 (none with unix links or on the floor)."""
    if opts.links != "tcp" or opts.mode == "floor":
        return []
    return list(API_PORTS.values()) + ([REDIS_PORT] if opts.mode in REDIS_MODES else [])


def rinha_env(opts: Options) -> dict:
    """The environment every `rinha` role shares: the caller's config plus sockets in the run dir."""
    rd = opts.run_dir
    env = base_env()
    env.update(opts.service_env)
    env.update({
        "RINHA_REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}" if opts.links == "tcp" else f"redis+unix://{rd}/redis.sock",
        "RINHA_POSTGRES_URL": f"host={rd} user={PG_ROLE} dbname={PG_DB}",
    })
    if opts.purge:
        env["RINHA_PURGE_ENABLED"] = "true"
        # Never an open purge, even on a test stack: `up` picked a token (or the caller's) and k6 sends it.
        env.setdefault("RINHA_PURGE_TOKEN", opts.purge_token)
    env.setdefault("RUST_BACKTRACE", "1")
    return env


def settings() -> dict:
    return json.loads(SETTINGS_FILE.read_text())


def postgres_argv(opts: Options) -> list[str]:
    """postgres in the foreground (the supervisor owns the postmaster's pid), sockets only in the run dir,
    with the deployed settings (nix/settings.json)."""
    argv = [str(Path(opts.tools["pg_bindir"]) / "postgres"), "-D", f"{opts.run_dir}/pg", "-k", opts.run_dir]
    local = {"listen_addresses": "", "unix_socket_permissions": "0700", "logging_collector": "off"}
    for key, value in {**settings()["postgres"], **local}.items():
        argv += ["-c", f"{key}={value}"]
    return argv


def redis_argv(opts: Options) -> list[str]:
    """redis-server with the deployed settings (nix/settings.json: AOF fsynced every second, no eviction),
    maxmemory from the caps, a unix socket in the run dir (and the loopback port with TCP links)."""
    port = REDIS_PORT if opts.links == "tcp" else 0
    argv = [opts.tools["redis"], "--port", str(port), "--bind", "127.0.0.1", "--unixsocket", f"{opts.run_dir}/redis.sock",
            "--unixsocketperm", "700", "--dir", f"{opts.run_dir}/redis"]
    for key, value in {**settings()["redis"], "maxmemory": f"{opts.redis_maxmemory_mib}mb"}.items():
        argv += [f"--{key}", str(value)]
    return argv + ["--daemonize", "no", "--logfile", ""]


def nginx_conf_name(opts: Options) -> str:
    return "floor.conf" if opts.mode == "floor" else "nginx.conf"


def render_nginx(opts: Options) -> Path:
    """Fill the template for this run dir and user; nginx has no env expansion, so the runner does it.
    The bound also gets one constant-answering nginx per API socket (`<name>.conf`)."""
    template = (NGINX_DIR / f"{nginx_conf_name(opts)}.template").read_text()
    user_line = f"user {opts.user['name']};" if os.geteuid() == 0 else "# not root: workers run as the caller"
    text = template.replace("@RUN_DIR@", opts.run_dir).replace("@USER_DIRECTIVE@", user_line)
    for name in API_NAMES:  # the template names the sockets; nix/nginx.nix substitutes them the same way
        text = text.replace(f"server unix:{opts.run_dir}/{name}.sock", f"server {api_address(opts, name)}")
    out = Path(opts.run_dir, "nginx.conf")
    out.write_text(text)
    if opts.mode == "bound":
        stand_in = (NGINX_DIR / "bound-api.conf.template").read_text().replace("@RUN_DIR@", opts.run_dir)
        for name in API_NAMES:
            Path(opts.run_dir, f"{name}.conf").write_text(stand_in.replace("@NAME@", name)
                                                          .replace("@LISTEN@", api_address(opts, name)))
    return out


def nginx_argv(opts: Options) -> list[str]:
    rd = opts.run_dir
    # -e: nginx opens its compiled-in error log before reading the config; point it into the run dir.
    return [opts.tools["nginx"], "-p", f"{rd}/nginx/", "-e", f"{rd}/logs/nginx-error.log", "-c", f"{rd}/nginx.conf"]


def emulator_services(opts: Options) -> list[Service]:
    out = []
    for name, addr, which in EMULATORS:
        out.append(Service(
            name=name, group=LOAD_GROUP, cap=None, env=base_env() | {"RUST_LOG": "warn"},
            argv=[opts.tools["processor"], "--listen", addr, "--fee", opts.fees[which], "--token", EMULATOR_TOKEN],
            ready=lambda a=addr: probe.http_ok(a, "/admin/payments-summary", {"X-Rinha-Token": EMULATOR_TOKEN}),
        ))
    return out


def phases(opts: Options) -> list[list[Service]]:
    """Services in start order; each phase waits until the previous one answers its readiness probe."""
    rd = opts.run_dir
    nginx = Service(name="nginx", group="nginx", cap="nginx", argv=nginx_argv(opts), env=base_env(),
                    as_root=os.geteuid() == 0, stop_signal=signal.SIGTERM,
                    ready=lambda: probe.http_ok("127.0.0.1:9999", "/payments-summary"))
    out: list[list[Service]] = []
    if opts.emulators:
        out.append(emulator_services(opts))
    if opts.mode == "floor":
        out.append([nginx])
        return out
    if opts.mode == "bound":
        out.append([Service(name=name, group=name, cap=name, env=base_env(), sockets=[f"{rd}/{name}.sock"],
                            argv=[opts.tools["nginx"], "-p", f"{rd}/", "-e", "stderr", "-c", f"{rd}/{name}.conf"],
                            ready=lambda a=api_address(opts, name): probe.http_ok(a, "/healthz"))
                    for name in API_NAMES])
        out.append([nginx])
        return out
    redis = Service(name="redis", group="redis", cap="redis", argv=redis_argv(opts), env=base_env(),
                    sockets=[f"{rd}/redis.sock"], ready=lambda: probe.redis_ping(f"{rd}/redis.sock"))
    if opts.mode == "intake":
        out.append([redis])
        redis_url = rinha_env(opts)["RINHA_REDIS_URL"]
        out.append([Service(name=name, group=name, cap=name, env=base_env(), sockets=[f"{rd}/{name}.sock"],
                            argv=[opts.tools["intake"], api_address(opts, name), redis_url],
                            ready=lambda a=api_address(opts, name): probe.http_ok(a, "/healthz"))
                    for name in API_NAMES])
        out.append([nginx])
        return out
    rinha = opts.tools["rinha"]
    env = rinha_env(opts)
    out.append([Service(name="postgres", group="postgres", cap="postgres", argv=postgres_argv(opts),
                        env=base_env(), stop_signal=signal.SIGINT,  # SIGINT = PostgreSQL's fast shutdown
                        ready=lambda: probe.postgres_ready(rd, PG_ROLE, PG_DB))])
    out.append([redis])
    workers = []
    for n in range(1, max(1, opts.workers) + 1):
        name = "worker" if n == 1 else f"worker{n}"
        sock = f"{rd}/{name}.sock"
        workers.append(Service(name=name, group="worker", cap="worker", argv=[rinha, "worker"],
                               # A fixed consumer name, as compose and the NixOS module give it: a
                               # restarted worker resumes its own pending entries first.
                               env=env | {"RINHA_WORKER_LISTEN": f"unix:{sock}", "RINHA_WORKER_NAME": name,
                                          "RINHA_WORKERS": str(max(1, opts.workers))},
                               sockets=[sock],
                               ready=lambda s=sock: probe.http_ok(f"unix:{s}", "/healthz")))
    out.append(workers)
    apis = []
    for name in API_NAMES:
        sock = f"{rd}/{name}.sock"
        address = api_address(opts, name)
        apis.append(Service(name=name, group=name, cap=name, argv=[rinha, "api"],
                            env=env | {"RINHA_LISTEN": address}, sockets=[sock],
                            ready=lambda a=address: probe.http_ok(a, "/healthz")))
    out.append(apis)
    out.append([nginx])
    return out


def all_services(opts: Options) -> list[Service]:
    return [svc for phase in phases(opts) for svc in phase]


def groups(opts: Options) -> dict[str, str | None]:
    """cgroup name → caps key (None = uncapped), for every group this stack uses."""
    out = {svc.group: svc.cap for svc in all_services(opts)}
    out.setdefault(LOAD_GROUP, None)  # k6 joins it even when the emulators are external
    return out
