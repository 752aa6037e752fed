{
  description = "rinha-rs: a payment intermediary for the Rinha de Backend 2025 rules";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    # crane has no inputs of its own (it takes pkgs through mkLib): nothing to follow.
    crane.url = "github:ipetkov/crane";
  };

  outputs = { self, nixpkgs, crane }:
    let
      system = "x86_64-linux";
      pkgs = nixpkgs.legacyPackages.${system};
      inherit (pkgs) lib;

      craneLib = crane.mkLib pkgs;
      build = pkgs.callPackage ./nix/package.nix { inherit craneLib; };
      inherit (build) rinha;

      caps = builtins.fromJSON (builtins.readFile ./nix/caps.json);
      images = import ./nix/images.nix { inherit pkgs rinha caps; };

      # `nix run .#bench`: the `make bench` flow of a checkout, every tool from nixpkgs.
      bench = pkgs.writeShellApplication {
        name = "rinha-bench";
        runtimeInputs = [
          pkgs.cargo
          pkgs.rustc
          pkgs.gcc
          pkgs.gnumake
          pkgs.nginx
          pkgs.redis
          pkgs.postgresql_17
          pkgs.k6
          pkgs.nodejs
          pkgs.curl
          pkgs.python3
          pkgs.procps
          pkgs.util-linux
        ];
        text = ''
          if [ ! -f Cargo.toml ] || [ ! -f Makefile ]; then
            echo "rinha-bench: run it from the root of a rinha-rs checkout" >&2
            exit 2
          fi
          export RINHA_REDIS_BIN=${lib.getExe' pkgs.redis "redis-server"}
          export RINHA_PG_BINDIR=${lib.getBin pkgs.postgresql_17}/bin
          export RINHA_NGINX_BIN=${lib.getExe' pkgs.nginx "nginx"}
          export K6_BIN=${lib.getExe' pkgs.k6 "k6"}
          exec make bench "$@"
        '';
      };
    in
    {
      packages.${system} = {
        default = rinha;
        inherit rinha;
        image-app = images.app;
        image-emulator = images.emulator;
        image-nginx = images.nginx;
        image-redis = images.redis;
        image-postgres = images.postgres;
        images = images.all;
      };

      apps.${system} = {
        bench = {
          type = "app";
          program = lib.getExe bench;
        };
        default = self.apps.${system}.bench;
      };

      checks.${system} = {
        inherit (build) clippy tests fmt;
        package = rinha;
        vm = import ./nix/vm-test.nix {
          inherit pkgs rinha;
          module = self.nixosModules.default;
          k6Dir = ./k6;
        };
        compose = import ./nix/compose-test.nix {
          inherit pkgs images;
          composeFile = ./docker-compose.yml;
          k6Dir = ./k6;
        };
      };

      nixosModules.default = {
        imports = [ ./nix/module.nix ];
        services.rinha.package = nixpkgs.lib.mkDefault self.packages.${system}.default;
      };

      devShells.${system}.default = craneLib.devShell {
        packages = [
          pkgs.postgresql_17
          pkgs.redis
          pkgs.nginx
          pkgs.k6
          pkgs.nodejs
          pkgs.python3
          pkgs.nixpkgs-fmt
          pkgs.deadnix
        ];
        RINHA_REDIS_BIN = lib.getExe' pkgs.redis "redis-server";
        RINHA_PG_BINDIR = "${lib.getBin pkgs.postgresql_17}/bin";
      };

      formatter.${system} = pkgs.nixpkgs-fmt;
    };
}
