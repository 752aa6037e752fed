# OCI images for the judges' compose file, built with dockerTools.buildLayeredImage from the
# data in nix/image-spec.nix (what each image holds and runs; the offline checks run the same
# data in minimal roots).
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

  created = "1970-01-01T00:00:01Z";

  # The packages image-spec.nix names. nixpkgs' bash has bin/sh.
  store = {
    inherit rinha nss;
    inherit (pkgs) busybox nginx redis bash coreutils;
    postgresql = pkgs.postgresql_17;
  };

  generated = lib.mapAttrs
    (name: file: pkgs.writeTextFile { inherit name; inherit (file) text executable; })
    spec.files;

  spec = import ./image-spec.nix { inherit store generated caps; };

  nss = dockerTools.fakeNss.override {
    extraPasswdLines = spec.passwd;
    extraGroupLines = spec.group;
  };

  image = key:
    let s = spec.images.${key}; in
    dockerTools.buildLayeredImage {
      name = "${meta.registry}/${meta.images.${key}}";
      inherit (meta) tag;
      inherit created;
      contents = map (name: store.${name}) s.contents;
      # /tmp for programs that want one (nginx temp paths, PostgreSQL sockets fallback).
      extraCommands = lib.optionalString s.tmp ''
        mkdir -p tmp
        chmod 1777 tmp
      '';
      fakeRootCommands = lib.concatMapStrings
        (d: ''
          mkdir -p ${d.path}
          chown ${d.owner} ${d.path}
          chmod ${d.mode} ${d.path}
        '')
        s.dirs;
      config = {
        Entrypoint = s.entrypoint;
        Cmd = s.cmd;
        User = s.user;
        WorkingDir = s.workdir;
        Env = s.env;
        ExposedPorts = lib.genAttrs s.ports (_: { });
      };
    };

  keys = builtins.attrNames spec.images;
in
lib.genAttrs keys image // {
  # Every image in one directory: `for i in result/*.tar.gz; do docker load -i "$i"; done`.
  all = pkgs.linkFarm "rinha-images" (map
    (key: { name = "${key}.tar.gz"; path = image key; })
    keys);
}
