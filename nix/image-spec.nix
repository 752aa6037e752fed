# Each OCI image as data, builtins only: what it holds (`contents`, by package name), what it
# runs and as whom, the directories it needs and the files generated for it.
#
# nix/images.nix turns this into dockerTools images with nixpkgs' packages. The offline check
# tests/nix/image-roots.py evaluates this same file with local stand-ins for the packages and
# runs each entrypoint and healthcheck in a root that holds only those contents, what the
# entrypoint references, and their shared libraries: "works on Debian" (which has /bin/sh and
# everything else) must not stand in for "works in the image".
#
# store:     { <package name> = store path; } for every name used below
# generated: { <file name> = store path; } for every entry of `files`
{ store, generated, caps }:
let
  inherit (builtins) concatLists concatStringsSep attrNames map toString;

  settings = import ./settings.nix { inherit caps; };

  binPath = names: concatStringsSep ":" (map (n: "${store.${n}}/bin") names);

  # Server tuning as arguments, so a compose `command:` can override it.
  pgArgs = concatLists (map
    (k: [ "-c" "${k}=${toString pgSettings.${k}}" ])
    (attrNames pgSettings));
  pgSettings = settings.postgres // {
    listen_addresses = "*";
    port = 5432;
    unix_socket_directories = "/run/postgresql";
  };

  nobody = "65534:65534";
in
{
  # Users besides fakeNss' root and nobody (/etc/passwd, /etc/group).
  passwd = [
    "postgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh"
    "redis:x:998:998:Redis:/data:/bin/sh"
  ];
  group = [
    "postgres:x:999:"
    "redis:x:998:"
  ];

  # Files written to the store; `generated.<name>` is where each one lands.
  files = {
    rinha-postgres-entrypoint = {
      executable = true;
      text = ''
        #!${store.bash}/bin/bash
        set -eu
        export PATH=${binPath [ "postgresql" "coreutils" ]}
        ${builtins.readFile ./postgres-entrypoint.sh}
      '';
    };

    "nginx.conf" = {
      executable = false;
      text = (import ./nginx.nix {
        upstreams = [ "api1:8080" "api2:8080" ];
        runDir = "/tmp";
      }).full;
    };

    "redis.conf" = {
      executable = false;
      text = ''
        bind 0.0.0.0
        port 6379
        protected-mode no
        dir /data
        ${settings.redisConf}
      '';
    };
  };

  images = {
    # All roles: `rinha api|worker|all|migrate`. busybox gives the healthcheck its wget.
    app = {
      contents = [ "rinha" "busybox" "nss" ];
      entrypoint = [ "${store.rinha}/bin/rinha" ];
      cmd = [ "api" ];
      user = nobody;
      workdir = "/";
      env = [ ];
      ports = [ "8080/tcp" ];
      tmp = false;
      dirs = [ ];
    };

    # The payment-processor emulator, for running the processors' side locally.
    emulator = {
      contents = [ "nss" ];
      entrypoint = [ "${store.rinha}/bin/payment-processor" ];
      cmd = [ "--listen" "0.0.0.0:8080" "--fee" "0.05" "--token" "123" ];
      user = nobody;
      workdir = "/";
      env = [ ];
      ports = [ "8080/tcp" ];
      tmp = false;
      dirs = [ ];
    };

    nginx = {
      contents = [ "nss" ];
      entrypoint = [ "${store.nginx}/bin/nginx" "-c" generated."nginx.conf" "-e" "stderr" ];
      cmd = [ ];
      user = nobody;
      workdir = "/";
      env = [ ];
      ports = [ "9999/tcp" ];
      tmp = true; # nginx's pid and temp paths: /tmp/nginx
      dirs = [{ path = "tmp/nginx"; owner = "65534:65534"; mode = "0755"; }];
    };

    redis = {
      contents = [ "redis" "nss" ];
      entrypoint = [ "${store.redis}/bin/redis-server" generated."redis.conf" ];
      cmd = [ ];
      user = "998:998";
      workdir = "/data";
      env = [ ];
      ports = [ "6379/tcp" ];
      tmp = true;
      dirs = [{ path = "data"; owner = "998:998"; mode = "0755"; }];
    };

    postgres = {
      # bash brings /bin/sh: initdb finds postgres with popen("postgres -V"), which runs /bin/sh.
      contents = [ "postgresql" "bash" "nss" ];
      entrypoint = [ generated.rinha-postgres-entrypoint ];
      cmd = pgArgs;
      user = "999:999";
      workdir = "/";
      env = [ "PGDATA=/var/lib/postgresql/data" ];
      ports = [ "5432/tcp" ];
      tmp = true;
      dirs = [
        { path = "run/postgresql"; owner = "999:999"; mode = "0755"; }
        { path = "var/lib/postgresql"; owner = "999:999"; mode = "0755"; }
        { path = "var/lib/postgresql/data"; owner = "999:999"; mode = "0700"; }
      ];
    };
  };
}
