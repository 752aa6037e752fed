# PostgreSQL and Redis settings, from nix/settings.json: the one file every deployment reads
# (the NixOS module and the OCI images through this file, the native runner behind `make up`
# and `make bench` through tests/stack/services.py), so the benchmark measures the servers
# that are deployed. tests/nix/settings-drift.py checks each rendering against the JSON.
#
# PostgreSQL 17 is sized for its cap (nix/caps.json): a small ledger of one table written by
# one worker and read by two APIs through small pools. max_connections 24 = 2 APIs + the
# worker at postgres_pool_size 4, migrate, the health probes and an admin session, with room.
# synchronous_commit stays on: the ledger is what the audit reads, and commits happen in the
# worker, off the request path.
#
# Redis: AOF fsynced every second, no RDB snapshots, maxmemory (from the caps) under its cap,
# never evict (losing a queued payment is worse than refusing a new one).
{ caps }:
let
  inherit (builtins) attrNames concatStringsSep fromJSON map readFile;

  capsLib = import ./caps.nix caps;
  json = fromJSON (readFile ./settings.json);

  redis = json.redis // { maxmemory = capsLib.redisMaxmemory; };

  # redis.conf syntax: an empty value is written as "" (e.g. `save ""`).
  redisValue = v: if v == "" then ''""'' else v;
in
{
  inherit (json) postgres;
  inherit redis;

  # The same, as redis.conf lines for the image.
  redisConf = concatStringsSep "\n" (map (k: "${k} ${redisValue redis.${k}}") (attrNames redis)) + "\n";
}
