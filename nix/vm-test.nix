# The benchmark as a NixOS VM test: the services.rinha module under its caps, two
# processor emulators and k6 running the offline scenario (k6/rinha.js, published
# schedule, time-scaled to ~30 s). Passes only if there were no inconsistencies, no
# failed POST and lag_drained = 0; score.json and report.html land in $out.
#
# Needs KVM on the builder (`nix build .#checks.x86_64-linux.vm`, or `nix flake check`).
# k6 is nixpkgs' (pkgs.k6; the contest used 1.1.0, `k6 version` is logged by the test).
{ pkgs, module, rinha, k6Dir }:
let
  params = {
    schedule = "published";
    time_scale = "0.5";
    max_requests = "250";
    backend_url = "http://127.0.0.1:9999";
    default_url = "http://127.0.0.1:8001";
    fallback_url = "http://127.0.0.1:8002";
    result_dir = "/tmp/k6-results";
    drain_timeout_s = 60;
  };

  emulator = port: fee: {
    description = "payment processor emulator on :${toString port}";
    wantedBy = [ "multi-user.target" ];
    after = [ "network.target" ];
    serviceConfig = {
      ExecStart = "${pkgs.lib.getExe' rinha "payment-processor"} --listen 127.0.0.1:${toString port} --fee ${fee} --token 123";
      DynamicUser = true;
      Restart = "on-failure";
    };
  };
in
pkgs.testers.runNixOSTest {
  name = "rinha-bench";

  nodes.machine = { ... }: {
    imports = [ module ];

    virtualisation = {
      cores = 4;
      memorySize = 4096;
    };

    services.rinha = {
      enable = true;
      package = rinha;
      defaultUrl = params.default_url;
      fallbackUrl = params.fallback_url;
      environment.RINHA_PURGE_ENABLED = "true";
    };

    systemd.services = {
      payment-processor-default = emulator 8001 "0.05";
      payment-processor-fallback = emulator 8002 "0.15";
    };

    environment.systemPackages = [ pkgs.k6 pkgs.curl ];
    environment.etc = {
      "rinha-vm-test/k6".source = k6Dir;
      "rinha-vm-test/params.json".text = builtins.toJSON params;
    };
  };

  # A plain .py file so pyflakes can lint it offline (tests/nix/check.sh).
  testScript = builtins.readFile ./vm-test.py;
}
