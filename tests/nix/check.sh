#!/usr/bin/env bash
# Offline checks of the Nix layer and the judges' compose file (run by `make test`).
#
# Nothing here builds with Nix (nixpkgs and the binary cache are out of reach); it checks
# what can be checked without them: syntax, lints, formatting, the lock against the
# flake, the caps arithmetic, the systemd values the module renders, the nginx config,
# the PostgreSQL image entrypoint, the VM test script and the compose file.
# Every check prints PASS/FAIL (SKIP when a tool it needs is absent); exit 1 on any FAIL.
#
# Its tools (nix-bin, deadnix, nixpkgs-fmt, pyflakes, busybox, pg_isready) come from
# tests/tools/install-deps.sh (`make tools`); a missing one is a FAIL that says so.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
TOOLS="$ROOT/target/tools"
CARGO_TOOLS="$TOOLS/cargo/bin"
PYFLAKES_VENV="$TOOLS/pyflakes-venv"
export NIX_CONFIG=$'experimental-features = nix-command flakes\nbuild-users-group =\nsubstituters ='

failures=0
pass() { printf 'PASS %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; failures=$((failures + 1)); }
skip() { printf 'SKIP %s\n' "$*"; }
step() { printf '== %s\n' "$*"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rinha-nix-check.XXXXXX")
PG_PID=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  if [ -n "$PG_PID" ]; then kill "$PG_PID" 2>/dev/null; wait "$PG_PID" 2>/dev/null; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

NIX_FILES=(flake.nix nix/*.nix tests/nix/*.nix)

# ------------------------------------------------------------------ tools
step "tools (from tests/tools/install-deps.sh: make tools)"
# Tool paths (RINHA_PG_BINDIR, ...) when run outside `make test`.
if [ -z "${RINHA_PG_BINDIR:-}" ] && [ -f "$TOOLS/env.sh" ]; then
  # shellcheck disable=SC1091  # written by tests/tools/install-deps.sh
  . "$TOOLS/env.sh"
fi
HAVE_NIX=0
if command -v nix-instantiate > /dev/null; then
  HAVE_NIX=1
  echo "nix: $(nix --version 2>/dev/null)"
else
  fail "tools: nix-instantiate not available (make tools installs nix-bin)"
fi

# ------------------------------------------------------------------ parse / lint / format
step "nix syntax, deadnix, nixpkgs-fmt"
if [ "$HAVE_NIX" = 1 ]; then
  for f in "${NIX_FILES[@]}"; do
    if out=$(nix-instantiate --parse "$f" 2>&1 > /dev/null); then
      pass "parse: $f"
    else
      fail "parse: $f: $out"
    fi
  done
fi
if [ -x "$CARGO_TOOLS/deadnix" ]; then
  if out=$("$CARGO_TOOLS/deadnix" --fail "${NIX_FILES[@]}" 2>&1); then
    pass "deadnix: no unused bindings in ${#NIX_FILES[@]} files"
  else
    fail "deadnix:"; printf '%s\n' "$out"
  fi
else
  fail "deadnix: not installed (make tools)"
fi
if [ -x "$CARGO_TOOLS/nixpkgs-fmt" ]; then
  if out=$("$CARGO_TOOLS/nixpkgs-fmt" --check "${NIX_FILES[@]}" 2>&1); then
    pass "nixpkgs-fmt: ${#NIX_FILES[@]} files formatted"
  else
    fail "nixpkgs-fmt (run: $CARGO_TOOLS/nixpkgs-fmt flake.nix nix/*.nix):"; printf '%s\n' "$out"
  fi
else
  fail "nixpkgs-fmt: not installed (make tools)"
fi

# ------------------------------------------------------------------ flake.lock
step "flake.lock matches flake.nix (offline)"
if [ "$HAVE_NIX" = 1 ]; then
  # Flakes only see git-tracked files: check a copy of the tree (tracked + untracked,
  # not ignored) committed to a throwaway repository.
  copy="$WORK/flake"
  mkdir -p "$copy"
  git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' path; do [ -e "$path" ] && printf '%s\0' "$path"; done \
    | tar -c --null -T - -f - | tar -x -C "$copy" -f -
  (cd "$copy" && git init -q && git add -A && git -c user.name=check -c user.email=check@localhost commit -qm check) \
    > /dev/null 2>&1
  if out=$(nix flake metadata --no-update-lock-file --json "$copy" 2>&1); then
    summary=$(printf '%s' "$out" | python3 -c '
import json, sys
meta = json.load(sys.stdin)
nodes = meta["locks"]["nodes"]
print(", ".join(n + " " + nodes[n]["locked"]["rev"][:12] for n in sorted(nodes["root"]["inputs"])))
')
    pass "flake metadata --no-update-lock-file: lock complete and consistent ($summary)"
  else
    fail "flake metadata --no-update-lock-file: $(printf '%s' "$out" | tail -3)"
  fi
  # Negative control: a flake.nix the lock does not match must fail (it would need to re-lock).
  sed -i 's|github:NixOS/nixpkgs/nixos-26.05|github:NixOS/nixpkgs/nixos-25.11|' "$copy/flake.nix"
  (cd "$copy" && git -c user.name=check -c user.email=check@localhost commit -qam mismatch) > /dev/null 2>&1
  if NIX_CONFIG="$NIX_CONFIG"$'\ndownload-attempts = 1' timeout 60 \
    nix flake metadata --no-update-lock-file "$copy" > /dev/null 2>&1; then
    fail "flake metadata: negative control (flake.nix changed, lock not) was accepted"
  else
    pass "flake metadata: negative control (nixpkgs ref changed in flake.nix only) is rejected"
  fi
fi

# ------------------------------------------------------------------ crane's source filter
step "the source nix/package.nix hands to crane holds every file the build reads"
if [ "$HAVE_NIX" = 1 ]; then
  if out=$(python3 tests/nix/crane-source.py 2>&1); then
    printf '%s\n' "$out"
  else
    printf '%s\n' "$out"
    failures=$((failures + $(printf '%s\n' "$out" | grep -c '^FAIL')))
  fi
fi

# ------------------------------------------------------------------ Rust toolchain
step "Rust toolchain: rust-toolchain.toml, Cargo.toml rust-version, every locked crate's rust-version"
if out=$(python3 tests/tools/check-rust-version.py 2>&1); then
  printf '%s\n' "$out"
else
  printf '%s\n' "$out"
  failures=$((failures + $(printf '%s\n' "$out" | grep -c '^FAIL')))
fi

# ------------------------------------------------------------------ caps
step "caps (nix/caps.json) rendered by nix/caps.nix"
RENDERED="$WORK/caps-rendered.json"
if [ "$HAVE_NIX" = 1 ] && nix-instantiate --eval --strict --json \
  -E 'import ./nix/caps.nix (builtins.fromJSON (builtins.readFile ./nix/caps.json))' > "$RENDERED" 2> "$WORK/caps.err"; then
  pass "caps.nix evaluates on caps.json"
else
  fail "caps.nix evaluates on caps.json: $(cat "$WORK/caps.err" 2>/dev/null)"
  echo '{}' > "$RENDERED"
fi
# The budget rule's reference (tests/stack/caps.py) against caps.nix, the NixOS module, the compose
# generator, the native runner and the images; settings.json and the nginx template likewise.
step "one source per deployment fact (tests/nix/drift.py)"
if [ "$HAVE_NIX" = 1 ]; then
  out=$(python3 tests/nix/drift.py 2>&1)
  printf '%s\n' "$out" | grep -v "warning: the group 'nixbld'"
  failures=$((failures + $(printf '%s\n' "$out" | grep -c '^FAIL')))
  if ! printf '%s\n' "$out" | grep -q '^PASS'; then fail "drift.py printed no PASS line"; fi
fi

# ------------------------------------------------------------------ systemd units
step "systemd-analyze verify on units rendered from the caps"
if command -v systemd-analyze > /dev/null; then
  units="$WORK/units"
  mkdir -p "$units"
  python3 - "$RENDERED" "$units" <<'PY'
import json, sys
rendered, out = json.load(open(sys.argv[1])), sys.argv[2]
slice_caps = rendered["slice"]
with open(f"{out}/rinha.slice", "w") as f:
    f.write("[Unit]\nDescription=rinha stack (contest budget)\n\n[Slice]\n")
    f.writelines(f"{k}={v}\n" for k, v in slice_caps.items())
for name, caps in rendered["units"].items():
    with open(f"{out}/rinha-{name}.service", "w") as f:
        f.write(f"[Unit]\nDescription=rinha {name}\nAfter=rinha-migrate.service\n\n[Service]\n"
                "Type=notify\nExecStart=/bin/true\nRestart=on-failure\nSlice=rinha.slice\n")
        f.writelines(f"{k}={v}\n" for k, v in caps.items())
with open(f"{out}/rinha-migrate.service", "w") as f:
    f.write("[Unit]\nDescription=rinha migrate\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\n"
            "ExecStart=/bin/true\nSlice=rinha.slice\n")
PY
  verify() { (cd "$1" && systemd-analyze verify --man=no ./*.service ./*.slice 2>&1); }
  out=$(verify "$units"); rc=$?
  n=$(find "$units" -name '*.service' -o -name '*.slice' | wc -l)
  if [ "$rc" = 0 ] && [ -z "$out" ]; then
    pass "systemd-analyze verify: $n units, no warning ($(grep -h '^CPUQuota\|^MemoryMax=' "$units"/*.service | sort | uniq -c | tr -s ' ' | paste -sd, -))"
  else
    fail "systemd-analyze verify (rc $rc):"; printf '%s\n' "$out"
  fi
  # Negative control: the same verification must reject what systemd silently ignores.
  bad="$WORK/units-bad"; mkdir -p "$bad"
  printf '[Unit]\nDescription=x\n\n[Service]\nExecStart=/bin/true\nMemoryMax=90MB\nCPUQuota=45\n' > "$bad/bad.service"
  printf '[Unit]\nDescription=s\n\n[Slice]\nMemoryMax=350M\n' > "$bad/ok.slice"
  out=$(verify "$bad")
  if printf '%s' "$out" | grep -q "90MB" && printf '%s' "$out" | grep -q "45"; then
    pass "systemd-analyze verify: negative control (MemoryMax=90MB, CPUQuota=45) is reported"
  else
    fail "systemd-analyze verify: negative control not reported: $out"
  fi
else
  skip "systemd-analyze not installed"
fi

# ------------------------------------------------------------------ nginx
step "nginx config (nix/nginx.nix, rendered from nginx/nginx.conf.template) with nginx -t"
NGINX_BIN="${RINHA_NGINX_BIN:-$(command -v nginx || true)}"
if [ "$HAVE_NIX" = 1 ] && [ -n "$NGINX_BIN" ] && [ -x "$NGINX_BIN" ]; then
  ng="$WORK/nginx"; mkdir -p "$ng/nginx"
  if nix-instantiate --eval --strict --json -E "(import ./nix/nginx.nix {
        upstreams = [ \"unix:$ng/api1.sock\" \"unix:$ng/api2.sock\" ]; runDir = \"$ng\"; }).full" \
      | python3 -c 'import json, sys; sys.stdout.write(json.load(sys.stdin))' > "$ng/nginx.conf" \
    && out=$("$NGINX_BIN" -t -q -e stderr -c "$ng/nginx.conf" 2>&1); then
    conf="$ng/nginx.conf"
    missing=""
    # shellcheck disable=SC2016  # literal nginx variables
    for needle in 'listen 9999' 'proxy_set_header X-Arrival-Time $msec;' 'client_max_body_size 4k;' \
      'return 413 '\''{"error":"payload_too_large"' 'keepalive 512;' 'proxy_set_header Connection "";' \
      'proxy_buffering off;'; do
      grep -qF -- "$needle" "$conf" || missing="$missing [$needle]"
    done
    if [ -z "$missing" ]; then
      pass "nginx -t ($("$NGINX_BIN" -v 2>&1 | sed 's/.*: //')): rendered config valid; 9999, X-Arrival-Time \$msec, 4k + JSON 413, keepalive upstream"
    else
      fail "nginx config lacks:$missing"
    fi
  else
    fail "nginx -t on the rendered config: $out"
  fi
else
  skip "nginx -t (no nginx binary; set RINHA_NGINX_BIN)"
fi

# ------------------------------------------------------------------ PostgreSQL image entrypoint
step "PostgreSQL image entrypoint (nix/postgres-entrypoint.sh) against local PostgreSQL 17"
if out=$(bash -n nix/postgres-entrypoint.sh 2>&1); then pass "bash -n postgres-entrypoint.sh"; else fail "bash -n: $out"; fi
if command -v shellcheck > /dev/null; then
  if out=$(shellcheck -s bash tests/nix/check.sh nix/postgres-entrypoint.sh 2>&1); then
    pass "shellcheck: check.sh, postgres-entrypoint.sh"
  else
    fail "shellcheck:"; printf '%s\n' "$out"
  fi
fi
PG_BIN="${RINHA_PG_BINDIR:-$TOOLS/pg17/bin}"
PSQL=$(command -v "$PG_BIN/psql" || command -v psql \
  || find /usr/lib/postgresql -path '*/bin/psql' 2> /dev/null | sort | tail -1 || true)
if [ -x "$PG_BIN/postgres" ] && "$PG_BIN/postgres" --version | grep -q ' 17\.' && [ "$(id -u)" = 0 ] \
  && command -v setpriv > /dev/null; then
  pg="$WORK/pg"; mkdir -p "$pg/data" "$pg/sock"; chmod 755 "$WORK" "$pg"; chmod 700 "$pg/data"
  chown -R 65534:65534 "$pg"
  { echo 'set -eu'; cat nix/postgres-entrypoint.sh; } > "$pg/entrypoint.sh"
  port=$((20000 + RANDOM % 20000))
  # A random port can be taken by someone else's socket: retry on a new one in that case only.
  pg_start() {
    local try
    for try in 1 2 3; do
      pg_start_once && return 0
      grep -q "Address already in use" "$pg/log" || return 1
      echo "port $port was taken (try $try); retrying on another" >> "$pg/log.retries"
      : > "$pg/log"; port=$((20000 + RANDOM % 20000))
    done
    return 1
  }
  pg_start_once() {
    setpriv --reuid=65534 --regid=65534 --clear-groups \
      env -i PATH="$(cd "$PG_BIN" && pwd):/usr/bin:/bin" PGDATA="$pg/data" HOME="$pg" RINHA_DB_PASSWORD=s3cret \
      bash "$pg/entrypoint.sh" -c listen_addresses=127.0.0.1 -c port="$port" \
      -c unix_socket_directories="$pg/sock" -c shared_buffers=32MB >> "$pg/log" 2>&1 &
    PG_PID=$!
    for _ in $(seq 1 120); do
      [ -S "$pg/sock/.s.PGSQL.$port" ] && grep -q "ready to accept connections" "$pg/log" && return 0
      kill -0 "$PG_PID" 2> /dev/null || return 1
      sleep 0.25
    done
    return 1
  }
  pg_stop() { kill "$PG_PID" 2> /dev/null; wait "$PG_PID" 2> /dev/null; PG_PID=""; }
  if pg_start; then
    detail="first start: initdb + role/database, server ready as uid 65534"
    ok=1
    if [ -n "$PSQL" ]; then
      who=$(PGPASSWORD=s3cret PGCONNECT_TIMEOUT=5 "$PSQL" -h 127.0.0.1 -p "$port" -U rinha -d rinha -Atc \
        'select current_user || $$/$$ || current_database()' 2>&1)
      wrong=$(PGPASSWORD=nope PGCONNECT_TIMEOUT=5 "$PSQL" -h 127.0.0.1 -p "$port" -U rinha -d rinha -Atc 'select 1' 2>&1)
      if [ "$who" = "rinha/rinha" ] && printf '%s' "$wrong" | grep -q "password authentication failed"; then
        detail="$detail; TCP login rinha/rinha with the password (scram), wrong password refused"
      else
        ok=0; detail="$detail; login check failed: [$who] [$wrong]"
      fi
    fi
    pg_stop
    if [ "$ok" = 1 ] && pg_start; then
      pg_stop
      pass "postgres entrypoint: $detail; restart on existing data"
    else
      fail "postgres entrypoint: $detail"; tail -20 "$pg/log"
    fi
  else
    fail "postgres entrypoint did not reach ready:"; tail -20 "$pg/log"
  fi
  pg_stop
else
  skip "postgres entrypoint run (needs root, setpriv and PostgreSQL 17 in \$RINHA_PG_BINDIR or target/tools/pg17)"
fi

# ------------------------------------------------------------------ images in minimal roots
step "each image's entrypoint and healthcheck in a root holding only its contents (nix/image-spec.nix)"
if [ "$HAVE_NIX" = 1 ] && [ "$(id -u)" = 0 ] && [ -x target/release/rinha ] && [ -x target/release/payment-processor ]; then
  out=$(python3 tests/nix/image-roots.py 2>&1)
  printf '%s\n' "$out"
  failures=$((failures + $(printf '%s\n' "$out" | grep -c '^FAIL')))
else
  skip "image roots (needs nix-instantiate, root, and target/release/{rinha,payment-processor}: cargo build --release --bins)"
fi

# ------------------------------------------------------------------ VM test script
step "VM test scripts (nix/vm-test.py, nix/compose-test.py): pyflakes, driver names"
if [ -x "$PYFLAKES_VENV/bin/pyflakes" ]; then
  # The NixOS test driver defines these globals; declare them as it does.
  for script in nix/vm-test.py nix/compose-test.py; do
    { echo 'machine = start_all = subtest = None  # noqa: driver globals'; cat "$script"; } > "$WORK/${script##*/}"
  done
  # tests/{stack,nix,tools}/*.py are linted by make test's own pyflakes step (tests/stack/testsuite.py).
  if out=$("$PYFLAKES_VENV/bin/pyflakes" "$WORK/vm-test.py" "$WORK/compose-test.py" 2>&1); then
    pass "pyflakes: nix/{vm,compose}-test.py (with the driver's globals)"
  else
    fail "pyflakes:"; printf '%s\n' "$out"
  fi
else
  fail "pyflakes: not installed (make tools)"
fi
# Only methods the NixOS test driver's Machine has (a typo would fail only in the VM).
driver_methods="succeed fail wait_for_unit wait_for_open_port wait_until_succeeds wait_until_fails copy_from_vm log execute start shutdown"
unknown=$(grep -ho 'machine\.[a-z_]*' nix/vm-test.py nix/compose-test.py | sort -u | sed 's/machine\.//' \
  | while read -r m; do case " $driver_methods " in *" $m "*) ;; *) echo "$m" ;; esac; done)
if [ -z "$unknown" ]; then
  pass "VM test scripts call only driver methods ($(grep -ho 'machine\.[a-z_]*' nix/vm-test.py nix/compose-test.py | sort -u | paste -sd' '))"
else
  fail "VM test scripts call unknown driver methods: $unknown"
fi

# ------------------------------------------------------------------ compose
step "docker-compose.yml against the caps and the contest rules"
if out=$(python3 tests/nix/compose.py check 2>&1); then
  printf '%s\n' "$out"
else
  printf '%s\n' "$out"
  failures=$((failures + 1))
fi
# Negative controls: the rule check must catch what the contest forbids.
controls=(
  '0,/memory: "[0-9]\+M"/s//memory: "999M"/'
  's/    platform: "linux\/amd64"/    privileged: true\n    platform: "linux\/amd64"/'
  's/      - "9999:9999"/      - "8080:9999"/'
  's/    external: true/    driver: "bridge"/'
  's/condition: "service_completed_successfully"/condition: "service_started"/'
)
for c in "${controls[@]}"; do
  sed "$c" docker-compose.yml > "$WORK/compose-bad.yml"
  if cmp -s docker-compose.yml "$WORK/compose-bad.yml"; then
    fail "compose negative control did not apply: $c"
  elif python3 tests/nix/compose.py check -f "$WORK/compose-bad.yml" > "$WORK/compose-bad.out" 2>&1; then
    fail "compose rule check accepted a broken file ($c)"
  else
    pass "compose rule check rejects: $c ($(grep '^FAIL' "$WORK/compose-bad.out" | grep -v 'is what' | head -1 || true))"
  fi
done

# ------------------------------------------------------------------ done
echo
if [ "$failures" = 0 ]; then
  echo "nix checks: all passed"
  exit 0
fi
echo "nix checks: $failures failed"
exit 1
