# nix/module.nix evaluated without nixpkgs, for tests/nix/drift.py: a stub of the few `lib`
# functions the module uses (mkIf applies its condition; options keep their defaults), the
# module's own option defaults as its configuration, and the caps given as JSON. What comes
# out is what the module renders: each unit's serviceConfig, the slice, the assertions and the
# PostgreSQL/Redis settings, compared by drift.py with the reference renderings.
#
#   nix-instantiate --eval --strict --json tests/nix/module-eval.nix --argstr capsJson "$(cat nix/caps.json)"
{ capsJson }:
let
  lib = {
    inherit (builtins) foldl' listToAttrs;
    getExe' = pkg: name: "${pkg}/bin/${name}";
    literalExpression = text: text;
    mkEnableOption = description: { default = false; inherit description; };
    mkOption = option: option;
    mkIf = cond: value: if cond then value else { };
    mkDefault = value: value;
    nameValuePair = name: value: { inherit name value; };
    types = {
      attrs = "attrs";
      attrsOf = _: "attrsOf";
      bool = "bool";
      ints.between = _: _: "int";
      package = "package";
      port = "port";
      str = "str";
    };
  };
  pkgs = { postgresql_17 = "/nix/store/postgresql"; };
  module = import ../../nix/module.nix;

  options = (module { config = { }; inherit lib pkgs; }).options.services.rinha;
  cfg = builtins.mapAttrs (_: option: option.default or null) options // {
    enable = true;
    package = "/nix/store/rinha";
    caps = builtins.fromJSON capsJson;
  };
  config.services = {
    rinha = cfg;
    redis.servers.rinha = { unixSocket = "/run/redis-rinha/redis.sock"; user = "redis-rinha"; };
    nginx.user = "nginx";
  };

  out = (module { inherit config lib pkgs; }).config;
in
{
  assertions = map (a: a.assertion) out.assertions;
  units = builtins.mapAttrs (_: unit: unit.serviceConfig or { }) out.systemd.services;
  slice = out.systemd.slices.rinha.sliceConfig;
  postgres = out.services.postgresql.settings;
  redis = { inherit (out.services.redis.servers.rinha) appendOnly appendFsync save settings; };
}
