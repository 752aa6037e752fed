#!/usr/bin/env python3
"""The Rust version, checked against itself and against every locked crate (offline).

    check-rust-version.py [--toolchain X.Y.Z]

One file holds the required compiler: rust-toolchain.toml (`channel = "X.Y.Z"`, an exact release).
This check fails unless
  * that channel is an exact X.Y.Z release (not `stable`: the build must not change under us);
  * Cargo.toml's `rust-version` is the same release (X.Y or X.Y.Z), so cargo refuses older compilers;
  * every crate Cargo.lock builds for x86_64-linux (from `cargo metadata --locked --offline`: the
    manifests cargo already has) declares a `rust-version` no newer than that release, so the
    declared minimum is honest;
  * a negative control holds: the same rule, given a release older than the newest crate's
    requirement, reports that crate.

--toolchain checks the locked crates against another release instead of the file's (for trying an
older compiler). Prints PASS/FAIL lines; exit 1 on any FAIL.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = "x86_64-unknown-linux-gnu"


def version(text: str) -> tuple[int, ...]:
    """"1.95" and "1.95.0" compare equal: a missing patch level is 0."""
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def locked_requirements() -> list[tuple[tuple[int, ...], str]]:
    """(rust-version, "name version") of every package cargo resolves from Cargo.lock for TARGET."""
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--offline", "--filter-platform", TARGET],
        cwd=ROOT, capture_output=True, text=True,
    )
    if out.returncode != 0:
        # Offline fails when a crate was never downloaded (a fresh CARGO_HOME): let cargo fetch it.
        out = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", TARGET],
            cwd=ROOT, capture_output=True, text=True,
        )
    if out.returncode != 0:
        raise SystemExit(f"FAIL rust-version: cargo metadata failed: {out.stderr.strip()[-400:]}")
    packages = json.loads(out.stdout)["packages"]
    return [(version(p["rust_version"]), f"{p['name']} {p['version']}") for p in packages if p.get("rust_version")]


def too_new(reqs: list[tuple[tuple[int, ...], str]], release: tuple[int, ...]) -> list[str]:
    """The crates that need more than `release`, those needing the most last."""
    return [f"{name} (needs {'.'.join(map(str, need))})" for need, name in sorted(reqs) if need > release]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toolchain", help="check the locked crates against this X.Y.Z instead")
    args = parser.parse_args(argv)
    failed = 0

    def report(ok: bool, what: str) -> None:
        nonlocal failed
        print(("PASS " if ok else "FAIL ") + what)
        failed += not ok

    toolchain_file = ROOT / "rust-toolchain.toml"
    channel = ""
    if toolchain_file.exists():
        channel = str(tomllib.loads(toolchain_file.read_text()).get("toolchain", {}).get("channel", ""))
    exact = re.fullmatch(r"\d+\.\d+\.\d+", channel) is not None
    report(exact, f"rust-version: rust-toolchain.toml pins an exact release (channel = {channel!r})")

    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    declared = str(manifest.get("package", {}).get("rust-version", ""))
    report(exact and re.fullmatch(r"\d+\.\d+(\.\d+)?", declared) is not None
           and version(declared) == version(channel),
           f"rust-version: Cargo.toml rust-version {declared!r} is the toolchain's release {channel!r}")

    reqs = locked_requirements()
    newest = max(reqs)
    release = version(args.toolchain) if args.toolchain else (version(channel) if exact else (0, 0, 0))
    label = args.toolchain or channel or "(none)"
    bad = too_new(reqs, release)
    report(not bad, f"rust-version: {len(reqs)} locked crates for {TARGET} declare a rust-version; "
                    f"all <= {label}" + (f"; {len(bad)} too new, e.g. {', '.join(bad[-5:])}" if bad else
                                         f" (newest: {newest[1]} needs {'.'.join(map(str, newest[0]))})"))

    # Negative control: one patch-level-free release below the newest requirement must be refused.
    older = (newest[0][0], newest[0][1] - 1, 0)
    caught = too_new(reqs, older)
    report(bool(caught), f"rust-version: negative control: {'.'.join(map(str, older))} is refused "
                         f"({len(caught)} crates too new, e.g. {caught[0] if caught else 'none'})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
