# Server settings shared by the NixOS module and the OCI images (builtins only), so the
# native-of-NixOS stack and the judges' containers run PostgreSQL and Redis alike.
{ caps }:
let
  capsLib = import ./caps.nix caps;
in
{
  # PostgreSQL 17 sized for its cap (150 MiB by default): a small ledger of one
  # table written by one worker and read by two APIs through small pools.
  postgres = {
    max_connections = 24; # pools: 2 APIs + worker(s) x postgres_pool_size 4, + migrate, + admin
    shared_buffers = "32MB";
    effective_cache_size = "64MB";
    work_mem = "2MB";
    maintenance_work_mem = "16MB";
    wal_buffers = "4MB";
    # synchronous_commit stays on: the ledger is what the audit reads, and commits
    # happen in the worker, off the request path.
    checkpoint_timeout = "15min";
    max_wal_size = "256MB";
    min_wal_size = "32MB";
    huge_pages = "off";
    jit = "off";
    track_io_timing = "off";
  };

  # Redis: AOF everysec, maxmemory under the cap, never evict (losing a queued
  # payment is worse than refusing a new one).
  redis = {
    maxmemory = capsLib.redisMaxmemory;
    maxmemory-policy = "noeviction";
  };

  # The same, as redis.conf lines for the image (the module writes its own file).
  redisConf = ''
    appendonly yes
    appendfsync everysec
    save ""
    maxmemory ${capsLib.redisMaxmemory}
    maxmemory-policy noeviction
  '';
}
