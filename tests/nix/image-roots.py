#!/usr/bin/env python3
"""Run each OCI image's entrypoint and healthcheck in a root that holds only what the image holds.

The images (nix/images.nix) are described by nix/image-spec.nix; this check evaluates that file with
local stand-ins for the nixpkgs packages and, per image, builds a root holding exactly:
  * the image's `contents`, each package under /nix/store/<name> and its bin/ linked into /bin (as
    dockerTools links contents into the image's root), `nss` as /etc/passwd and /etc/group;
  * the packages the entrypoint and the generated files reference (in the image: the config's
    closure), under /nix/store/<name> only, not linked into /bin;
  * the generated files (entrypoint script, nginx.conf, redis.conf) at their store paths;
  * the directories the image creates, and /tmp when it has one;
  * the shared libraries of every ELF file above (ldd), at their paths.
Nothing else: no /bin/sh unless a listed package brings one. Then it starts the entrypoint there
(chroot, as the image's user, with the image's Env) and runs the compose healthcheck in the same root
until it passes. A "works on Debian" run (where /bin/sh and everything else exist) would miss a
missing shell; this does not.

Local stand-ins: rinha = target/release/{rinha,payment-processor}; postgresql = the PostgreSQL 17 tree
of RINHA_PG_BINDIR (tests/tools/install-deps.sh); redis, nginx, bash, coreutils, busybox = Debian's.
Ports: each server gets a free loopback port through an override Docker would also allow (PGPORT,
`--port`, RINHA_LISTEN); nginx is checked with `-t` (its upstreams api1/api2 resolved through an
/etc/hosts like the one Docker writes), since :9999 belongs to the native stack.

    image-roots.py [IMAGE ...]     default: every image; exit 1 on any FAIL. Needs root.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "nix"))
import compose  # noqa: E402  the healthchecks and environment judges run, from the compose generator

PACKAGES = ("rinha", "busybox", "nss", "nginx", "redis", "bash", "coreutils", "postgresql")
STORE = "/nix/store"
FAKE_NSS = ["root:x:0:0:root user:/var/empty:/bin/sh", "nobody:x:65534:65534:nobody:/var/empty:/bin/sh"]
FAKE_GROUP = ["root:x:0:", "nobody:x:65534:"]
DOCKER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def which(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def evaluate_spec() -> dict:
    store = " ".join(f'{p} = "{STORE}/{p}";' for p in PACKAGES)
    expr = f"""
      let caps = builtins.fromJSON (builtins.readFile ./nix/caps.json);
          spec = import ./nix/image-spec.nix {{
            inherit caps; store = {{ {store} }};
            generated = builtins.mapAttrs (name: _: "{STORE}/generated/${{name}}") spec.files; }};
      in spec"""
    out = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", "-E", expr],
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"FAIL image roots: nix/image-spec.nix does not evaluate: {out.stderr.strip()}")
    return json.loads(out.stdout)


# ---------------------------------------------------------------- local stand-ins for the packages

def pg_home() -> Path:
    bindir = os.environ.get("RINHA_PG_BINDIR")
    if not bindir:
        raise LookupError("RINHA_PG_BINDIR unset (tests/tools/install-deps.sh writes it to target/tools/env.sh)")
    return Path(bindir).resolve().parent


def package_files(name: str) -> dict[str, Path]:
    """Relative path inside the package -> local file (or directory, copied whole)."""
    if name == "rinha":
        release = ROOT / "target" / "release"
        return {"bin/rinha": release / "rinha", "bin/payment-processor": release / "payment-processor"}
    if name == "postgresql":
        home = pg_home()
        files = {d: home / d for d in ("bin", "lib", "share") if (home / d).exists()}
        if not (home / "bin" / "pg_isready").exists():
            # The embedded build ships only the server; any client's pg_isready speaks the same protocol.
            found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_isready"))
            if not found:
                raise LookupError("no pg_isready (apt-get install postgresql-client)")
            files["bin/pg_isready"] = found[-1]
        return files
    if name == "redis":
        return {f"bin/{b}": Path(which(b) or f"/usr/bin/{b}") for b in ("redis-server", "redis-cli")}
    if name == "nginx":
        return {"bin/nginx": Path(which("nginx") or "/usr/sbin/nginx")}
    if name == "bash":  # nixpkgs' bash has bin/sh -> bash
        return {"bin/bash": Path("/bin/bash"), "bin/sh": Path("bash")}
    if name == "busybox":
        return {"bin/busybox": Path(which("busybox") or "/bin/busybox")}
    if name == "coreutils":
        listed = subprocess.run(["dpkg", "-L", "coreutils"], capture_output=True, text=True).stdout.split()
        return {f"bin/{Path(p).name}": Path(p) for p in listed if re.fullmatch(r"/usr/bin/[^/]+", p)}
    if name == "nss":
        return {}
    raise LookupError(f"no local stand-in for package {name!r}")


def install_package(root: Path, name: str) -> None:
    base = root / STORE.lstrip("/") / name
    for rel, src in package_files(name).items():
        dst = base / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not src.is_absolute():  # a symlink inside the package
            dst.symlink_to(src)
        elif src.is_dir():
            shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)
    if name == "busybox":  # nixpkgs' busybox links every applet in bin/
        applets = subprocess.run([str(base / "bin/busybox"), "--list"], capture_output=True, text=True).stdout.split()
        for applet in applets:
            if applet != "busybox":
                (base / "bin" / applet).symlink_to("busybox")


def link_contents(root: Path, name: str, passwd: list[str], group: list[str]) -> None:
    """dockerTools' `contents`: the package's top-level entries become the image's."""
    if name == "nss":
        etc = root / "etc"
        etc.mkdir(exist_ok=True)
        (etc / "passwd").write_text("\n".join(FAKE_NSS + passwd) + "\n")
        (etc / "group").write_text("\n".join(FAKE_GROUP + group) + "\n")
        return
    pkg = root / STORE.lstrip("/") / name / "bin"
    if pkg.is_dir():
        (root / "bin").mkdir(exist_ok=True)
        for entry in pkg.iterdir():
            link = root / "bin" / entry.name
            if not link.exists() and not link.is_symlink():
                link.symlink_to(f"{STORE}/{name}/bin/{entry.name}")


def elf_files(top: Path):
    for path in top.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    yield path


def copy_libraries(root: Path) -> int:
    """ldd closure of every ELF file in the root, copied to the same absolute paths."""
    copied: set[str] = set()
    todo = list(elf_files(root))
    while todo:
        path = todo.pop()
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True).stdout
        for lib in re.findall(r"(/\S+) \(0x", out):
            if lib in copied or lib.startswith(str(root) + "/"):  # $ORIGIN: already in the root
                continue
            copied.add(lib)
            # The file itself at the path the loader asked for (symlinks followed: a symlink's target
            # may sit where the root has nothing, e.g. /lib64 -> /lib on a merged-/usr host).
            dst = root / lib.lstrip("/")
            if dst.exists():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(lib), dst)
            todo.append(dst)
    return len(copied)


def build_root(spec: dict, key: str, base: Path) -> tuple[Path, str]:
    image = spec["images"][key]
    root = base / key
    root.mkdir(parents=True)
    referenced = set()
    texts = [" ".join(image["entrypoint"] + image["cmd"])]
    texts += [f["text"] for name, f in spec["files"].items() if f"{STORE}/generated/{name}" in texts[0]]
    for text in texts:
        referenced |= set(re.findall(rf"{STORE}/([a-z0-9-]+)/", text))
    referenced.discard("generated")
    for name in sorted(set(image["contents"]) | referenced):
        install_package(root, name)
    for name in image["contents"]:
        link_contents(root, name, spec["passwd"], spec["group"])
    gen = root / STORE.lstrip("/") / "generated"
    gen.mkdir(parents=True)
    for name, f in spec["files"].items():
        (gen / name).write_text(f["text"])
        (gen / name).chmod(0o755 if f["executable"] else 0o644)
    if image["tmp"]:
        (root / "tmp").mkdir(exist_ok=True)
        (root / "tmp").chmod(0o1777)
    for d in image["dirs"]:
        path = root / d["path"]
        path.mkdir(parents=True, exist_ok=True)
        uid, gid = (int(x) for x in d["owner"].split(":"))
        os.chown(path, uid, gid)
        path.chmod(int(d["mode"], 8))
    # What Docker adds at run time: /proc, /dev basics, /etc/hosts (service names), an empty /etc/resolv.conf.
    for d in ("proc", "dev", "etc"):
        (root / d).mkdir(exist_ok=True)
    (root / "etc/hosts").write_text("127.0.0.1 localhost api1 api2 postgres redis\n")
    libs = copy_libraries(root)
    has_sh = (root / "bin/sh").exists() or (root / "bin/sh").is_symlink()
    what = (f"contents {image['contents']}, referenced {sorted(referenced - set(image['contents'])) or '[]'}, "
            f"{libs} libraries, /bin/sh {'present' if has_sh else 'absent'}")
    return root, what


# ---------------------------------------------------------------- running in a root

class Root:
    def __init__(self, path: Path, image: dict):
        self.path, self.image = path, image
        subprocess.run(["mount", "-t", "proc", "proc", str(path / "proc")], check=True)
        subprocess.run(["mount", "--rbind", "/dev", str(path / "dev")], check=True)
        subprocess.run(["mount", "--make-rslave", str(path / "dev")], check=True)
        self.procs: list[subprocess.Popen] = []

    def env(self, extra: dict) -> dict:
        env = dict(e.split("=", 1) for e in self.image["env"])
        env.setdefault("PATH", DOCKER_PATH)
        env.setdefault("HOME", "/")
        env.update(extra)
        return env

    def argv(self, argv: list[str]) -> list[str]:
        return ["chroot", f"--userspec={self.image['user']}", str(self.path), *argv]

    def start(self, argv: list[str], env: dict, log: Path) -> subprocess.Popen:
        # chroot(8) starts in the root's /, not the image's WorkingDir; only redis sets one (/data),
        # and its config names that directory itself.
        proc = subprocess.Popen(self.argv(argv), env=self.env(env), stdout=open(log, "ab"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def run(self, argv: list[str], env: dict, timeout: float = 10) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(argv), env=self.env(env), capture_output=True, text=True, timeout=timeout)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, 9)
                    proc.wait()
        subprocess.run(["umount", "-l", str(self.path / "dev")], check=False)
        subprocess.run(["umount", str(self.path / "proc")], check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(root: Root, proc: subprocess.Popen, test: list[str], env: dict, seconds: float) -> tuple[bool, str]:
    """The compose healthcheck, in the image's root, until it passes or the server died."""
    deadline = time.monotonic() + seconds
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False, f"entrypoint exited {proc.returncode}"
        out = root.run(test, env)
        if out.returncode == 0:
            return True, "healthy"
        last = (out.stdout + out.stderr).strip()[-200:]
        time.sleep(0.3)
    return False, f"not healthy within {seconds:.0f} s ({last})"


def compose_service(name: str) -> dict:
    return compose.generate(compose.load(compose.CAPS), compose.load(compose.IMAGES))["services"][name]


def healthcheck(name: str) -> list[str]:
    test = compose_service(name)["healthcheck"]["test"]
    assert test[0] == "CMD", test
    return test[1:]


def tail(path: Path, n: int = 8) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-n:])
    except FileNotFoundError:
        return ""


# ---------------------------------------------------------------- per image

def check_postgres(spec, base, log) -> tuple[bool, str, dict]:
    image = spec["images"]["postgres"]
    root = Root(base / "postgres", image)
    port = free_port()
    env = {"PGPORT": str(port), **compose_service("postgres")["environment"]}
    try:
        proc = root.start(image["entrypoint"] + image["cmd"] + ["-c", "listen_addresses=127.0.0.1",
                                                                "-c", f"port={port}"], env, log)
        ok, why = wait_healthy(root, proc, healthcheck("postgres"), env, 60)
        detail = f"entrypoint + healthcheck {' '.join(healthcheck('postgres'))}: {why}"
        if not ok:
            detail += f"; log: {tail(log)}"
        return ok, detail, {"root": root, "port": port}
    except Exception:
        root.close()
        raise


def check_redis(spec, base, log) -> tuple[bool, str, dict]:
    image = spec["images"]["redis"]
    root = Root(base / "redis", image)
    port = free_port()
    proc = root.start(image["entrypoint"] + image["cmd"] + ["--port", str(port), "--bind", "127.0.0.1"], {}, log)
    cli, *args = healthcheck("redis")
    test = [cli, "-p", str(port), *args]  # options before the command
    ok, why = wait_healthy(root, proc, test, {}, 30)
    return ok, f"entrypoint + healthcheck {' '.join(test)}: {why}" + ("" if ok else f"; log: {tail(log)}"), \
        {"root": root, "port": port}


def check_app(spec, base, log, pg_port: int, redis_port: int) -> tuple[bool, str]:
    image = spec["images"]["app"]
    root = Root(base / "app", image)
    try:
        pw = compose.DB_PASSWORD
        db = {"RINHA_POSTGRES_URL": f"postgres://rinha:{pw}@127.0.0.1:{pg_port}/rinha",
              "RINHA_REDIS_URL": f"redis://127.0.0.1:{redis_port}"}
        migrate = root.run(image["entrypoint"] + compose_service("migrate")["command"], db, timeout=60)
        if migrate.returncode != 0:
            return False, f"image app: migrate exited {migrate.returncode}: {(migrate.stdout + migrate.stderr).strip()[-300:]}"
        port = free_port()
        env = {**compose_service("api1")["environment"], **db, "RINHA_LISTEN": f"127.0.0.1:{port}"}
        proc = root.start(image["entrypoint"] + compose_service("api1")["command"], env, log)
        test = [a.replace(":8080/", f":{port}/") for a in healthcheck("api1")]
        ok, why = wait_healthy(root, proc, test, {}, 30)
        return ok, (f"image app: `migrate`, then `api` + healthcheck {' '.join(test)}: {why}"
                    + ("" if ok else f"; log: {tail(log)}"))
    finally:
        root.close()


def check_emulator(spec, base, log) -> tuple[bool, str]:
    image = spec["images"]["emulator"]
    root = Root(base / "emulator", image)
    try:
        port = free_port()
        cmd = [f"127.0.0.1:{port}" if a == "0.0.0.0:8080" else a for a in image["cmd"]]
        proc = root.start(image["entrypoint"] + cmd, {}, log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/payments/service-health")
                with urllib.request.urlopen(req, timeout=2) as resp:
                    return resp.status == 200, f"image emulator: entrypoint answers GET /payments/service-health ({resp.status})"
            except OSError:
                time.sleep(0.3)
        return False, f"image emulator: entrypoint did not answer (exit {proc.poll()}); log: {tail(log)}"
    finally:
        root.close()


def check_nginx(spec, base, log) -> tuple[bool, str]:
    image = spec["images"]["nginx"]
    root = Root(base / "nginx", image)
    try:
        out = root.run(image["entrypoint"] + image["cmd"] + ["-t"], {})
        return out.returncode == 0, f"image nginx: entrypoint with -t: {' | '.join((out.stdout + out.stderr).strip().splitlines())[-300:]}"
    finally:
        root.close()


def main(argv: list[str]) -> int:
    if os.geteuid() != 0:
        print("SKIP image roots: needs root (chroot)")
        return 0
    spec = evaluate_spec()
    wanted = argv or sorted(spec["images"])
    failed = 0

    def report(ok: bool, what: str) -> None:
        nonlocal failed
        print(("PASS " if ok else "FAIL ") + what, flush=True)
        failed += not ok

    base = Path(tempfile.mkdtemp(prefix="rinha-image-roots."))
    base.chmod(0o755)
    running: dict[str, dict] = {}
    try:
        for key in wanted:
            try:
                _, what = build_root(spec, key, base)
                report(True, f"image root {key}: {what}")
            except (LookupError, OSError, subprocess.CalledProcessError) as err:
                report(False, f"image root {key}: cannot build the root: {err}")
                wanted = [k for k in wanted if k != key]
        logs = base / "logs"
        logs.mkdir()
        for key in ("postgres", "redis"):
            if key in wanted:
                ok, detail, state = (check_postgres if key == "postgres" else check_redis)(spec, base, logs / f"{key}.log")
                running[key] = state
                report(ok, f"image {key}: {detail}")
        if "app" in wanted:
            if {"postgres", "redis"} <= running.keys():
                report(*check_app(spec, base, logs / "app.log", running["postgres"]["port"], running["redis"]["port"]))
            else:
                report(False, "image app: needs the postgres and redis images' roots running")
        if "emulator" in wanted:
            report(*check_emulator(spec, base, logs / "emulator.log"))
        if "nginx" in wanted:
            report(*check_nginx(spec, base, logs / "nginx.log"))
    finally:
        for state in running.values():
            state["root"].close()
        shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
