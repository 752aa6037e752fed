#!/usr/bin/env python3
"""Does the source the Nix build hands to crane hold every file the build reads? (offline)

nix/package.nix builds from `craneLib.fileset.commonCargoSources root` plus what nix/source.nix
adds. crane's rule (lib/fileset/commonCargoSources.nix, crane master as pinned in flake.lock: the union
of fileset/cargoTomlAndLock.nix, fileset/rust.nix and fileset/toml.nix) keeps a file when its name is
`Cargo.toml` or `Cargo.lock`, or it has the extension `rs` or `toml`. A flake sees only what git
tracks. This check applies the same rules to `git ls-files`, adds nix/source.nix (evaluated with
nix-instantiate), and fails when something the build reads is left out:
  * every include_str!/include_bytes!/include! target of every .rs file (src/, tests/, benches/:
    checks.tests and clippy --all-targets compile them all), resolved like rustc does, relative to
    the file holding the macro;
  * every `concat!(env!("CARGO_MANIFEST_DIR"), "/…")` path a test reads at run time (all files below);
  * every path named in Cargo.toml ([lib], [[bin]], [[bench]], [[test]], [[example]], build).
Negative control: with crane's rule alone (nix/source.nix ignored) the check must report the
migrations, proving that it finds what the build reads.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

INCLUDE = re.compile(r'\binclude(?:_str|_bytes)?!\s*\(\s*"([^"]+)"\s*\)')
MANIFEST_DIR = re.compile(r'concat!\s*\(\s*env!\s*\(\s*"CARGO_MANIFEST_DIR"\s*\)\s*,\s*"/([^"]+)"\s*\)')


def crane_keeps(path: str) -> bool:
    """crane's commonCargoSources: cargoTomlAndLock ∪ rust (hasExt "rs") ∪ toml (hasExt "toml")."""
    name = posixpath.basename(path)
    return name in ("Cargo.toml", "Cargo.lock") or name.endswith(".rs") or name.endswith(".toml")


def extra_keeps(extra: dict):
    exts = tuple("." + e for e in extra.get("extensions", []))
    dirs = tuple(d.rstrip("/") + "/" for d in extra.get("directories", []))
    return lambda path: (bool(exts) and path.endswith(exts)) or path.startswith(dirs)


def git_files(*args: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", *args], cwd=ROOT, capture_output=True, check=True)
    return [p for p in out.stdout.decode().split("\0") if p and (ROOT / p).exists()]


def load_extra() -> dict:
    out = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", "nix/source.nix"],
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"FAIL crane source: nix/source.nix does not evaluate: {out.stderr.strip()}")
    return json.loads(out.stdout)


def needed_files(files: list[str]) -> dict[str, str]:
    """path -> why the build reads it."""
    need: dict[str, str] = {}
    for path in files:
        if not path.endswith(".rs"):
            continue
        text = (ROOT / path).read_text(encoding="utf-8", errors="replace")
        for m in INCLUDE.finditer(text):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), m.group(1)))
            need[target] = f"{m.group(0).split('(')[0].strip()} in {path}"
        for m in MANIFEST_DIR.finditer(text):
            below = posixpath.normpath(m.group(1))
            matched = [f for f in files if f == below or f.startswith(below + "/")]
            for f in matched or [below]:
                need[f] = f"CARGO_MANIFEST_DIR/{below} read by {path}"
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    need["Cargo.toml"] = "the manifest"
    need["Cargo.lock"] = "the lock"
    package = manifest.get("package", {})
    if isinstance(package.get("build"), str):
        need[package["build"]] = "Cargo.toml package.build"
    targets = [manifest.get("lib", {})] + [t for k in ("bin", "bench", "test", "example") for t in manifest.get(k, [])]
    for t in targets:
        if "path" in t:
            need[posixpath.normpath(t["path"])] = f"Cargo.toml target {t.get('name', 'lib')}"
    return need


def missing(need: dict[str, str], kept) -> list[str]:
    return sorted(f"{p} ({why})" for p, why in need.items() if not kept(p))


def main() -> int:
    failed = 0

    def report(ok: bool, what: str) -> None:
        nonlocal failed
        print(("PASS " if ok else "FAIL ") + what)
        failed += not ok

    tracked = git_files("--cached")
    visible = sorted(set(tracked) | set(git_files("--others", "--exclude-standard")))
    extra = load_extra()
    also = extra_keeps(extra)
    need = needed_files(visible)

    absent = sorted(p for p in need if not (ROOT / p).exists())
    report(not absent, f"crane source: every file the build reads exists ({len(need)} files)"
                       + (f"; absent: {', '.join(absent)}" if absent else ""))
    untracked = sorted(p for p in need if p not in tracked and (ROOT / p).exists())
    report(not untracked, "crane source: git tracks every file the build reads (a flake sees nothing else)"
                          + (f"; untracked: {', '.join(untracked)}" if untracked else ""))

    left_out = missing(need, lambda p: crane_keeps(p) or also(p))
    kept_count = sum(1 for p in tracked if crane_keeps(p) or also(p))
    report(not left_out, f"crane source: commonCargoSources + nix/source.nix {json.dumps(extra, sort_keys=True)} "
                         f"keep all {len(need)} files the build reads ({kept_count} of {len(tracked)} tracked kept)"
                         + (f"; left out: {', '.join(left_out)}" if left_out else ""))

    # Negative control: crane's rule alone must miss the migrations (read by include_str! and a test).
    crane_only = missing(need, crane_keeps)
    report(any(p.startswith("migrations/") for p in crane_only),
           f"crane source: negative control: commonCargoSources alone leaves out {len(crane_only)} "
           f"({', '.join(p.split(' ')[0] for p in crane_only)})")
    return 1 if failed else 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
