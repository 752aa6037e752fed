# OCI images for the judges' compose file, built with dockerTools.buildLayeredImage.
#
# Reproducible: pinned inputs, `created` fixed at the epoch (the dockerTools default,
# written out so nobody changes it to "now"), no network, so `nix build .#images`
# gives bit-identical tarballs on any x86_64-linux machine. Names and tags come from
# nix/images.json, the same file tests/nix/compose.py reads to write docker-compose.yml,
# so `docker load` yields exactly the references the compose file uses.
#
# Every server runs as an unprivileged user (PostgreSQL refuses root).
{ pkgs, rinha, caps }:
let
  inherit (pkgs) dockerTools lib;

  meta = builtins.fromJSON (builtins.readFile ./images.json);
  settings = import ./settings.nix { inherit caps; };

  created = "1970-01-01T00:00:01Z";

  image = key: args: dockerTools.buildLayeredImage ({
    name = "${meta.registry}/${meta.images.${key}}";
    inherit (meta) tag;
    inherit created;
  } // args);

  # /tmp for programs that want one (nginx temp paths, PostgreSQL sockets fallback).
  tmpDir = ''
    mkdir -p tmp
    chmod 1777 tmp
  '';

  nss = dockerTools.fakeNss.override {
    extraPasswdLines = [
      "postgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh"
      "redis:x:998:998:Redis:/data:/bin/sh"
    ];
    extraGroupLines = [
      "postgres:x:999:"
      "redis:x:998:"
    ];
  };

  postgresql = pkgs.postgresql_17;

  # Server tuning as arguments, so a compose `command:` can override it.
  pgArgs = lib.concatLists (lib.mapAttrsToList
    (k: v: [ "-c" "${k}=${toString v}" ])
    (settings.postgres // {
      listen_addresses = "*";
      port = 5432;
      unix_socket_directories = "/run/postgresql";
    }));

  pgEntrypoint = pkgs.writeShellScript "rinha-postgres-entrypoint" ''
    set -eu
    export PATH=${lib.makeBinPath [ postgresql pkgs.coreutils ]}
    ${builtins.readFile ./postgres-entrypoint.sh}
  '';

  nginxConf = pkgs.writeText "nginx.conf"
    (import ./nginx.nix {
      upstreams = [ "api1:8080" "api2:8080" ];
    }).full;

  redisConf = pkgs.writeText "redis.conf" ''
    bind 0.0.0.0
    port 6379
    protected-mode no
    dir /data
    ${settings.redisConf}
  '';
in
rec {
  # All roles: `rinha api|worker|all|migrate`. busybox gives the healthcheck its wget.
  app = image "app" {
    contents = [ rinha pkgs.busybox nss ];
    config = {
      Entrypoint = [ (lib.getExe' rinha "rinha") ];
      Cmd = [ "api" ];
      User = "65534:65534";
      ExposedPorts."8080/tcp" = { };
    };
  };

  # The payment-processor emulator, for running the processors' side locally.
  emulator = image "emulator" {
    contents = [ nss ];
    config = {
      Entrypoint = [ (lib.getExe' rinha "payment-processor") ];
      Cmd = [ "--listen" "0.0.0.0:8080" "--fee" "0.05" "--token" "123" ];
      User = "65534:65534";
      ExposedPorts."8080/tcp" = { };
    };
  };

  nginx = image "nginx" {
    contents = [ nss ];
    extraCommands = tmpDir;
    config = {
      Entrypoint = [ (lib.getExe' pkgs.nginx "nginx") "-c" "${nginxConf}" "-e" "stderr" ];
      User = "65534:65534";
      ExposedPorts."9999/tcp" = { };
    };
  };

  redis = image "redis" {
    contents = [ pkgs.redis nss ];
    extraCommands = tmpDir;
    fakeRootCommands = ''
      mkdir -p data
      chown 998:998 data
    '';
    config = {
      Entrypoint = [ (lib.getExe' pkgs.redis "redis-server") "${redisConf}" ];
      User = "998:998";
      WorkingDir = "/data";
      ExposedPorts."6379/tcp" = { };
    };
  };

  postgres = image "postgres" {
    contents = [ postgresql nss ];
    extraCommands = tmpDir;
    fakeRootCommands = ''
      mkdir -p run/postgresql var/lib/postgresql/data
      chown 999:999 run/postgresql var/lib/postgresql var/lib/postgresql/data
      chmod 0700 var/lib/postgresql/data
    '';
    config = {
      Entrypoint = [ "${pgEntrypoint}" ];
      Cmd = pgArgs;
      User = "999:999";
      Env = [ "PGDATA=/var/lib/postgresql/data" ];
      ExposedPorts."5432/tcp" = { };
    };
  };

  # Every image in one directory: `for i in result/*.tar.gz; do docker load -i "$i"; done`.
  all = pkgs.linkFarm "rinha-images" (lib.mapAttrsToList
    (key: path: { name = "${key}.tar.gz"; inherit path; })
    { inherit app emulator nginx redis postgres; });
}
