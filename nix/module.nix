# services.rinha: the whole stack as systemd services under the contest caps.
#
# PostgreSQL 17 (ledger), Redis (queue), a oneshot `rinha migrate`, N >= 2 API
# instances, the worker(s) and nginx on :9999. Every service gets its CPUQuota /
# MemoryMax from nix/caps.json (through ./caps.nix, the same rendering the offline
# checks verify with `systemd-analyze verify`) and runs in rinha.slice, which is capped
# at the whole budget (150 % / 350M). Logs go to journald.
#
# Everything talks over unix sockets under /run: the APIs and the worker in
# /run/rinha, Redis in /run/redis-rinha, PostgreSQL in /run/postgresql (peer auth:
# the `rinha` system user is the `rinha` database role).
{ config, lib, pkgs, ... }:
let
  cfg = config.services.rinha;

  capsLib = import ./caps.nix cfg.caps;
  settings = import ./settings.nix { caps = cfg.caps; };

  runDir = "/run/rinha";
  redisName = "rinha";
  redisCfg = config.services.redis.servers.${redisName};

  apiNames = builtins.genList (i: "api${toString (i + 1)}") cfg.apiInstances;
  workerNames =
    if cfg.workers == 1 then [ "worker" ]
    else builtins.genList (i: "worker${toString (i + 1)}") cfg.workers;

  # Every capped unit of the stack, keyed by its caps.json name; the oneshot migrate too.
  cappedNames = apiNames ++ workerNames ++ [ "nginx" "redis" "postgres" "migrate" ];
  missingCaps = builtins.filter (n: !(cfg.caps.services ? ${n})) cappedNames;

  # `or { }`: a missing entry is reported by the assertion below, not by an eval error.
  capsFor = name: (capsLib.units.${name} or { }) // { Slice = "rinha.slice"; };

  # The NixOS redis module has its own options for these three; the rest go to `settings`.
  redisOwnOptions = [ "appendonly" "appendfsync" "save" ];

  # nginx/nginx.conf.template, rendered for this unit: temp files under the unit's
  # CacheDirectory (/var/cache/nginx), the APIs' sockets as upstreams.
  nginxConf = import ./nginx.nix {
    upstreams = map (n: "unix:${runDir}/${n}.sock") apiNames;
    runDir = "/var/cache";
    inherit (cfg) listenPort;
  };

  # RINHA_* for every role; role-specific keys are added per unit.
  baseEnv = {
    RINHA_REDIS_URL = "redis+unix://${redisCfg.unixSocket}";
    RINHA_POSTGRES_URL = "host=/run/postgresql user=rinha dbname=rinha";
    RINHA_DEFAULT_URL = cfg.defaultUrl;
    RINHA_FALLBACK_URL = cfg.fallbackUrl;
    RINHA_DEFAULT_FEE = cfg.defaultFee;
    RINHA_FALLBACK_FEE = cfg.fallbackFee;
  } // cfg.environment;

  # Hardening shared by the rinha roles; they need nothing but their sockets.
  hardening = {
    User = "rinha";
    Group = "rinha";
    UMask = "0007"; # sockets 0770: nginx reaches them through the rinha group
    NoNewPrivileges = true;
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    PrivateDevices = true;
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectControlGroups = true;
    RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ];
    ReadWritePaths = [ runDir ];
    LimitNOFILE = 65536;
  };

  dbDeps = [ "postgresql.service" "postgresql-setup.service" ];
  roleDeps = [ "rinha-migrate.service" "redis-${redisName}.service" ];

  # A long-running role: Type=notify (the binary sends READY=1), restarted on failure.
  mkRole = name: role: extraEnv: {
    description = "rinha ${role} (${name})";
    wantedBy = [ "multi-user.target" ];
    after = [ "network.target" ] ++ roleDeps;
    requires = roleDeps;
    environment = baseEnv // extraEnv;
    serviceConfig = hardening // capsFor name // {
      Type = "notify";
      NotifyAccess = "main";
      ExecStart = "${lib.getExe' cfg.package "rinha"} ${role}";
      Restart = "on-failure";
      RestartSec = "1s";
      TimeoutStopSec = "15s"; # the worker drains for up to drain_deadline_ms (8 s)
      StandardOutput = "journal";
      StandardError = "journal";
    };
  };
in
{
  options.services.rinha = {
    enable = lib.mkEnableOption "the rinha payment intermediary (PostgreSQL, Redis, APIs, worker, nginx)";

    package = lib.mkOption {
      type = lib.types.package;
      description = "The rinha package (binaries `rinha` and `payment-processor`); the flake's module sets its own build as the default.";
    };

    caps = lib.mkOption {
      type = lib.types.attrs;
      default = builtins.fromJSON (builtins.readFile ./caps.json);
      defaultText = lib.literalExpression "builtins.fromJSON (builtins.readFile ./caps.json)";
      description = "Per-service CPU/memory caps (schema of nix/caps.json). Each service needs an entry.";
    };

    apiInstances = lib.mkOption {
      type = lib.types.ints.between 2 16;
      default = 2;
      description = "Number of API instances behind nginx (`api1`..`apiN` in the caps).";
    };

    workers = lib.mkOption {
      type = lib.types.ints.between 1 16;
      default = 1;
      description = "Number of worker processes (`worker` in the caps when 1, else `worker1`..`workerN`).";
    };

    listenPort = lib.mkOption {
      type = lib.types.port;
      default = 9999;
      description = "Port nginx listens on.";
    };

    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Open listenPort in the firewall.";
    };

    defaultUrl = lib.mkOption {
      type = lib.types.str;
      default = "http://127.0.0.1:8001";
      description = "Base URL of the default payment processor.";
    };

    fallbackUrl = lib.mkOption {
      type = lib.types.str;
      default = "http://127.0.0.1:8002";
      description = "Base URL of the fallback payment processor.";
    };

    defaultFee = lib.mkOption {
      type = lib.types.str;
      default = "0.05";
      description = "Fee of the default processor (decimal string).";
    };

    fallbackFee = lib.mkOption {
      type = lib.types.str;
      default = "0.15";
      description = "Fee of the fallback processor (decimal string).";
    };

    environment = lib.mkOption {
      type = lib.types.attrsOf lib.types.str;
      default = { };
      example = { RINHA_PURGE_ENABLED = "true"; };
      description = "Extra RINHA_* variables for every role (see the configuration table in the README).";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = missingCaps == [ ];
        message = "services.rinha: no caps for ${toString missingCaps} in services.rinha.caps (nix/caps.json)";
      }
      {
        # The budget rule of nix/caps.nix (the same as tests/stack/caps.py, checked by
        # tests/nix/caps-drift.py): every entry, the oneshot migrate included, summed.
        assertion = capsLib.violations == [ ];
        message = "services.rinha: the caps break the budget rule: ${toString capsLib.violations}";
      }
    ];

    users.users.rinha = {
      isSystemUser = true;
      group = "rinha";
      extraGroups = [ redisCfg.user ]; # the Redis socket is 0660 redis-rinha:redis-rinha
    };
    users.groups.rinha = { };
    users.users.${config.services.nginx.user}.extraGroups = [ "rinha" ];

    systemd.tmpfiles.rules = [ "d ${runDir} 0750 rinha rinha -" ];

    # The whole stack shares one group cap: the contest budget.
    systemd.slices.rinha = {
      description = "rinha stack (contest budget)";
      sliceConfig = capsLib.slice;
    };

    services.postgresql = {
      enable = true;
      package = pkgs.postgresql_17;
      enableTCPIP = false;
      ensureDatabases = [ "rinha" ];
      ensureUsers = [{ name = "rinha"; ensureDBOwnership = true; }];
      settings = settings.postgres;
    };

    services.redis.servers.${redisName} = {
      enable = true;
      port = 0; # unix socket only
      unixSocketPerm = 660;
      # nix/settings.json, through the module's own options where it has them.
      appendOnly = settings.redis.appendonly == "yes";
      appendFsync = settings.redis.appendfsync;
      save = if settings.redis.save == "" then [ ] else throw "settings.json: redis save must be \"\"";
      settings = builtins.removeAttrs settings.redis redisOwnOptions;
    };

    services.nginx = {
      enable = true;
      config = nginxConf.module;
    };

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [ cfg.listenPort ];

    systemd.services = {
      postgresql.serviceConfig = capsFor "postgres";
      postgresql-setup.serviceConfig.Slice = "rinha.slice";
      "redis-${redisName}".serviceConfig = capsFor "redis";
      nginx = {
        after = map (n: "rinha-${n}.service") apiNames;
        wants = map (n: "rinha-${n}.service") apiNames;
        serviceConfig = capsFor "nginx" // { LimitNOFILE = 65536; };
      };

      # Applies migrations/ under an advisory lock and exits; the roles start after it.
      rinha-migrate = {
        description = "rinha database migrations";
        wantedBy = [ "multi-user.target" ];
        after = dbDeps;
        requires = dbDeps;
        environment = baseEnv;
        serviceConfig = hardening // capsFor "migrate" // {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "${lib.getExe' cfg.package "rinha"} migrate";
          StandardOutput = "journal";
          StandardError = "journal";
        };
      };
    }
    // lib.listToAttrs (map
      (n: lib.nameValuePair "rinha-${n}" (mkRole n "api" { RINHA_LISTEN = "unix:${runDir}/${n}.sock"; }))
      apiNames)
    // lib.listToAttrs (map
      (n: lib.nameValuePair "rinha-${n}" (mkRole n "worker" {
        RINHA_WORKER_LISTEN = "unix:${runDir}/${n}.sock";
        RINHA_WORKER_NAME = n;
        # Each worker takes 1/N of max_inflight and max_calls_per_sec: the processors' limits hold for all.
        RINHA_WORKERS = toString cfg.workers;
      }))
      workerNames);
  };
}
