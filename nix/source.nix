# What the crate build reads besides crane's `fileset.commonCargoSources`, which keeps only
# Cargo.toml, Cargo.lock, *.rs and *.toml. Builtins-only data, so the offline check
# (tests/nix/crane-source.py) evaluates this same file and fails when a file the build reads
# (include_str!/include_bytes!, the migrations, a manifest path) would be left out.
{
  # Files with these extensions are kept wherever they are: the Redis scripts that
  # src/queue/mod.rs reads with include_str! (enqueue.lua, purge.lua).
  extensions = [ "lua" ];

  # Directories kept whole, relative to the repository root: the migrations, read with
  # include_str! and listed by a test at run time.
  directories = [ "migrations" ];
}
