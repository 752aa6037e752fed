"""Where things live: the repository, the run dir, the tools and the unprivileged user.

Every other module asks here instead of guessing paths, so each location is decided in one place.
Python 3 standard library only: the runner must work on a fresh Debian/Ubuntu before anything is installed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / "target"
CAPS_FILE = REPO / "nix" / "caps.json"
NGINX_DIR = REPO / "nginx"
TOOLS_ENV = TARGET / "tools" / "env.sh"

# The run dir pointer: `make down` (and the outside checker) find the live run dir through this file.
RUN_DIR_FILE = TARGET / "run-dir"

# Not under a 0700 home: PostgreSQL and the nginx workers run as an unprivileged user that must reach
# the sockets, and /var/tmp survives reboots less often than people expect but long enough for logs.
DEFAULT_RUN_DIR = Path("/var/tmp/rinha-run")


def env_flag(name: str) -> bool:
    """A yes/no setting from the environment (EMULATORS=1, BOUND=true, ...)."""
    return os.environ.get(name, "").lower() in ("1", "true", "yes", "on")


def bound_mode(environ=os.environ) -> str | None:
    """BOUND: which bound the bench runs beside each run, as a stack mode. 1 (or nginx): our nginx in front of
    two nginx answering constants ("bound"); intake: in front of two stand-ins that XADD each POST to Redis
    ("intake", examples/bound_intake.rs). None when unset or false."""
    value = environ.get("BOUND", "").lower()
    if value in ("", "0", "false", "no", "off"):
        return None
    if value in ("1", "true", "yes", "on", "nginx"):
        return "bound"
    if value == "intake":
        return "intake"
    raise ValueError(f"BOUND={value}: expected 1 (nginx) or intake")


def run_dir() -> Path:
    """The run dir a new `up` uses: RINHA_RUN_DIR if set, else the default."""
    return Path(os.environ.get("RINHA_RUN_DIR") or DEFAULT_RUN_DIR)


def recorded_run_dir() -> Path | None:
    """The run dir of the last `up`, so `down` stops what was started even if RINHA_RUN_DIR changed since."""
    try:
        text = RUN_DIR_FILE.read_text().strip()
    except FileNotFoundError:
        return None
    return Path(text) if text else None


def load_tools_env() -> None:
    """Merge target/tools/env.sh (written by tests/tools/install-deps.sh) into our environment.

    Sourced by bash rather than parsed, so whatever shell syntax the install script writes is honoured.
    Values already set by the caller win: an explicit RINHA_PG_BINDIR must not be overridden.
    """
    if not TOOLS_ENV.exists():
        return
    out = subprocess.run(
        ["bash", "-c", 'set -a; . "$1" >/dev/null; env -0', "env", str(TOOLS_ENV)],
        check=True,
        capture_output=True,
    ).stdout
    for item in out.split(b"\0"):
        key, sep, value = item.decode(errors="replace").partition("=")
        if not sep or key in ("_", "SHLVL", "PWD", "OLDPWD") or key.startswith("BASH"):
            continue
        if key == "PATH" or key not in os.environ:
            os.environ[key] = value


def which(name: str, *extra_dirs: str) -> str | None:
    """shutil.which that also looks in sbin dirs (nginx lives in /usr/sbin, often not on a user's PATH)."""
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(
        list(extra_dirs) + ["/usr/sbin", "/usr/local/sbin", "/sbin"]
    )
    return shutil.which(name, path=path)


def pg_bindir() -> Path | None:
    """PostgreSQL 17 binaries: RINHA_PG_BINDIR, else a system install of 17."""
    env = os.environ.get("RINHA_PG_BINDIR")
    if env:
        return Path(env)
    for cand in (Path("/usr/lib/postgresql/17/bin"),):
        if (cand / "postgres").exists():
            return cand
    found = which("postgres")
    return Path(found).parent if found else None


def redis_bin() -> str | None:
    return os.environ.get("RINHA_REDIS_BIN") or which("redis-server")


def nginx_bin() -> str | None:
    return os.environ.get("RINHA_NGINX_BIN") or which("nginx")


def k6_bin() -> str | None:
    env = os.environ.get("K6_BIN")
    if env:
        return env
    local = TARGET / "tools" / "k6" / "bin" / "k6"
    return str(local) if local.exists() else which("k6")


def rinha_bin() -> Path:
    """The service binary; RINHA_BIN lets the runner be exercised with a stand-in."""
    return Path(os.environ.get("RINHA_BIN") or TARGET / "release" / "rinha")


def intake_bin() -> Path:
    """The intake bound's stand-in API (`cargo build --release --example bound_intake`)."""
    return Path(os.environ.get("RINHA_INTAKE_BIN") or TARGET / "release" / "examples" / "bound_intake")


def processor_bin() -> Path:
    return Path(os.environ.get("RINHA_PROCESSOR_BIN") or TARGET / "release" / "payment-processor")


@dataclass(frozen=True)
class RunAs:
    """The account services run as. PostgreSQL refuses root, and nothing here needs root to serve."""

    name: str
    uid: int
    gid: int

    @property
    def switch(self) -> bool:
        """Only root can (and must) drop privileges; an unprivileged caller runs services as itself."""
        return os.geteuid() == 0 and self.uid != 0


def service_user() -> RunAs:
    """The unprivileged service account, created (as a system user without a home) when missing."""
    if os.geteuid() != 0:
        pw = pwd.getpwuid(os.geteuid())
        return RunAs(pw.pw_name, pw.pw_uid, pw.pw_gid)
    name = os.environ.get("RINHA_USER", "rinha")
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        useradd = which("useradd")
        if useradd:
            subprocess.run(
                [useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                 "--shell", "/usr/sbin/nologin", name],
                check=False,
            )
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            pw = pwd.getpwnam("nobody")
    return RunAs(pw.pw_name, pw.pw_uid, pw.pw_gid)
