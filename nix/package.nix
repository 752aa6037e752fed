# The rinha crate built with crane: dependencies once (buildDepsOnly), then the
# workspace (buildPackage). Binaries: `rinha` (api|worker|all|migrate) and
# `payment-processor` (the processor emulator).
#
# The sandbox has no network. Tests that need Redis or PostgreSQL find them through
# the test helper's RINHA_REDIS_BIN / RINHA_PG_BINDIR, provided here from nixpkgs
# (the sandbox builds as an nixbld user, so PostgreSQL's refusal to run as root does
# not bite). The capped end-to-end run is not part of the build: it is the VM test.
{ lib, craneLib, rustc, redis, postgresql_17 }:
let
  root = ../.;

  # rust-toolchain.toml names the compiler the locked crates need (Cargo.toml's rust-version
  # repeats it). crane builds with nixpkgs' rustc (`crane.mkLib pkgs`); an older one would
  # fail deep inside the build, so say it up front. To build with the pinned version instead,
  # a toolchain input (e.g. oxalica/rust-overlay: `craneLib.overrideToolchain (p:
  # p.rust-bin.fromRustupToolchainFile ../rust-toolchain.toml)`) is needed; see the README.
  requiredRust = (builtins.fromTOML (builtins.readFile ../rust-toolchain.toml)).toolchain.channel;
  rustcNewEnough = lib.assertMsg (lib.versionAtLeast rustc.version requiredRust)
    "nixpkgs' rustc ${rustc.version} is older than ${requiredRust} (rust-toolchain.toml)";

  # Cargo sources plus what the build reads besides them (nix/source.nix, checked offline by
  # tests/nix/crane-source.py against every include_str!/include_bytes! and manifest path).
  extra = import ./source.nix;
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions ([
      (craneLib.fileset.commonCargoSources root)
      (lib.fileset.fileFilter (file: lib.any file.hasExt extra.extensions) root)
    ] ++ map (dir: root + "/${dir}") extra.directories);
  };

  commonArgs = {
    inherit src;
    strictDeps = true;
    pname = "rinha";
  };

  cargoArtifacts = assert rustcNewEnough; craneLib.buildDepsOnly commonArgs;

  testArgs = {
    nativeCheckInputs = [ redis postgresql_17 ];
    RINHA_REDIS_BIN = lib.getExe' redis "redis-server";
    RINHA_PG_BINDIR = "${lib.getBin postgresql_17}/bin";
  };
in
{
  inherit src cargoArtifacts;

  # Tests run once, in checks.tests, not again in every package build.
  rinha = craneLib.buildPackage (commonArgs // {
    inherit cargoArtifacts;
    doCheck = false;
    meta.mainProgram = "rinha";
  });

  tests = craneLib.cargoTest (commonArgs // testArgs // {
    inherit cargoArtifacts;
  });

  clippy = craneLib.cargoClippy (commonArgs // {
    inherit cargoArtifacts;
    cargoClippyExtraArgs = "--all-targets -- --deny warnings";
  });

  fmt = craneLib.cargoFmt { inherit src; };
}
