#!/usr/bin/env bash
# `make fresh-check`: run .ci/run on a fresh machine of the kind this project runs on, to prove that
# `make test` installs everything it runs (a development machine that already has a tool hides a
# missing install step; that is how shellcheck once went unnoticed).
#
# The fresh machine is a Debian 12 root made by debootstrap (minbase) from the apt mirror this machine
# already uses, holding only the packages of a new machine that matter to this project (the list
# below, taken from the environment's list for a new `rust` machine) and the machine's network trust
# (its extra CA certificates and the variables pointing at them), plus the Rust toolchain as a new
# machine has it: the toolchain directories of ~/.rustup bind-mounted read-only (real directories only,
# so a toolchain name someone added by hand later is not there), ~/.cargo/bin read-only, and an empty
# cargo registry. The committed HEAD is cloned into it (like CI's fresh clone); /proc, /sys and /dev
# are mounted, so cgroups, PostgreSQL's shared memory and port 9999 are the host's. It runs with the
# fresh root as the root of its own mount namespace (pivot_root), as on a real machine, not a chroot.
#
# Slow (debootstrap, apt, a full release build, the end-to-end run): not part of CI. Needs root.
# The host's /tmp/rinha-stack.lock is bound in: the steps that start the stack (they bind :9999 and
# create the stack's cgroups on the host) take it themselves, only while they run. The log goes to
# target/fresh-check/<UTC time>.log; its tail is printed.
#
# Environment: FRESH_ROOT (default /var/tmp/rinha-fresh, removed and recreated), FRESH_KEEP=1 keeps it,
# FRESH_RUN (default `bash .ci/run`): what the new user runs first in the clone, e.g. `make bench`.
set -euo pipefail

PACKAGES=(
  # what a new machine of this project's kind has and the project relies on
  python3 python3-venv gcc g++ libc6-dev git make ca-certificates curl wget xz-utils
  procps util-linux iproute2 passwd systemd
)
SUITE=bookworm

repo=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
fresh=${FRESH_ROOT:-/var/tmp/rinha-fresh}
logdir="$repo/target/fresh-check"
log="$logdir/$(date -u +%Y%m%dT%H%M%SZ).log"
mkdir -p "$logdir"

say() { printf 'fresh-check: %s\n' "$*" | tee -a "$log"; }
die() { say "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, chroot, mounts)"
[[ $fresh == /var/tmp/* || $fresh == /tmp/* ]] || die "FRESH_ROOT must be under /var/tmp or /tmp (it is removed)"

# The mirror this machine's apt already uses for Debian itself (deb822 or one-line format).
mirror=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -m1 '/debian/*$' || true)
[[ -n $mirror ]] || mirror=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -m1 '/debian/*$' || true)
[[ -n $mirror ]] || die "no Debian mirror found in /etc/apt/sources.list*"
security=${mirror%/debian*}/debian-security

if ! command -v debootstrap >/dev/null; then
  say "apt-get install debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >>"$log" 2>&1
fi

unmount_all() {
  local m
  # Deepest first; rbind mounts are slaves, so nothing propagates back to the host.
  awk -v r="$fresh" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/self/mounts | sort -r \
    | while IFS= read -r m; do umount -l "$m" 2>/dev/null || true; done
}
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  unmount_all
  if [[ ${FRESH_KEEP:-0} != 1 ]]; then rm -rf --one-file-system "$fresh"; fi
}
unmount_all
rm -rf --one-file-system "$fresh"
trap cleanup EXIT

start=$SECONDS
say "debootstrap --variant=minbase $SUITE $fresh $mirror (+ ${PACKAGES[*]})"
pkgs=$(IFS=,; echo "${PACKAGES[*]}")
nice -n 10 debootstrap --variant=minbase --include="$pkgs" "$SUITE" "$fresh" "$mirror" >>"$log" 2>&1 \
  || { tail -20 "$log"; die "debootstrap failed"; }
say "debootstrap done in $((SECONDS - start)) s"

cat >"$fresh/etc/apt/sources.list" <<EOF
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb $security $SUITE-security main
EOF
cp -L /etc/resolv.conf "$fresh/etc/resolv.conf"

# The machine's own network setup, which a new machine of this kind has too (it is not the project's to
# install): the extra CA certificates its registries are reached through, and the client settings and
# environment variables that point at them. No credentials are involved.
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$fresh/usr/local/share/ca-certificates/"
  chroot "$fresh" update-ca-certificates >>"$log" 2>&1
fi
[[ -f /etc/pip.conf ]] && cp /etc/pip.conf "$fresh/etc/pip.conf"
[[ -f $HOME/.npmrc ]] && cp "$HOME/.npmrc" "$fresh/root/.npmrc"
machine_env=()
for var in SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE REQUESTS_CA_BUNDLE PIP_CERT NODE_EXTRA_CA_CERTS \
  GIT_SSL_CAINFO NIX_SSL_CERT_FILE PIP_DEFAULT_TIMEOUT PIP_DISABLE_PIP_VERSION_CHECK; do
  [[ -n ${!var:-} ]] && machine_env+=("$var=${!var}")
done

mount -t proc proc "$fresh/proc"
for fs in sys dev; do
  mount --rbind "/$fs" "$fresh/$fs"
  mount --make-rslave "$fresh/$fs"
done

# The Rust toolchain as a new machine has it.
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
cargo_home=${CARGO_HOME:-$HOME/.cargo}
mkdir -p "$fresh/root/.rustup/toolchains" "$fresh/root/.cargo/bin"
cp "$rustup_home/settings.toml" "$fresh/root/.rustup/"
[[ -d $rustup_home/update-hashes ]] && cp -r "$rustup_home/update-hashes" "$fresh/root/.rustup/"
for tc in "$rustup_home"/toolchains/*; do
  [[ -d $tc && ! -L $tc ]] || continue
  mkdir -p "$fresh/root/.rustup/toolchains/${tc##*/}"
  mount --bind "$tc" "$fresh/root/.rustup/toolchains/${tc##*/}"
  mount -o remount,bind,ro "$fresh/root/.rustup/toolchains/${tc##*/}"
done
mount --bind "$cargo_home/bin" "$fresh/root/.cargo/bin"
mount -o remount,bind,ro "$fresh/root/.cargo/bin"
say "toolchains: $(find "$fresh/root/.rustup/toolchains" -mindepth 1 -maxdepth 1 -printf '%f ')"\
  "; cargo bin: $(find "$fresh/root/.cargo/bin" -mindepth 1 -maxdepth 1 -printf '%f ')"

# The committed tree, as CI clones it.
git clone -q --no-local "$repo" "$fresh/root/rinha-rs"
say "cloned $(git -C "$repo" log --oneline -1)"

# The host's stack lock, bound in, so the stack steps inside (they take it themselves, see README) and
# everyone's benchmarks outside wait for each other only while a stack runs, not for the whole check.
touch /tmp/rinha-stack.lock "$fresh/tmp/rinha-stack.lock"
mount --bind /tmp/rinha-stack.lock "$fresh/tmp/rinha-stack.lock"

# A real machine's / is the root of its mount namespace; a plain chroot's is not. Nix before 2.17
# (Debian 12 has 2.8) runs git and its other helpers after setns() back into the mount namespace it
# saved at start, which resets their root to that namespace's: under chroot they ran on the host's /,
# and `nix flake metadata` failed with "cannot change to '/tmp/rinha-nix-check.../flake'"
# (NixOS/nix#7602, fixed upstream by #8483 in 2023). So the fresh root is made the root of a mount
# namespace of its own (pivot_root), as on a real machine.
run=${FRESH_RUN:-bash .ci/run}
say "running '$run' in the fresh root (log: $log)"
rc=0
# shellcheck disable=SC2016  # the inner script expands its own arguments
nice -n 10 unshare --mount --propagation private -- bash -c '
  set -e
  mount --rbind "$1" "$1"  # pivot_root needs the new root to be a mount point
  cd "$1"
  mkdir -p .host-root
  pivot_root . .host-root
  umount -l /.host-root
  rmdir /.host-root
  shift
  exec chroot . "$@"' pivot "$fresh" \
  /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 "${machine_env[@]}" \
  PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  bash -c "cd /root/rinha-rs && $run" >>"$log" 2>&1 || rc=$?
say "'$run' exited $rc after $((SECONDS - start)) s in all"
echo "----- tail of $log"
tail -40 "$log"
exit "$rc"
