# checks.compose: the judges' path in a VM with Docker. The Nix-built images are `docker
# load`ed (judges would pull the same references), the external network `payment-processor`
# is created with two processor emulators on it (our emulator image, standing in for the
# contest's processors), and the repository's docker-compose.yml is brought up under its
# caps. Passes only if :9999 answers within 75 s of `docker-compose up` and a short k6 run
# (published schedule, time-scaled) has 0 inconsistencies and no failed POST.
#
# Needs KVM on the builder: `nix build .#checks.x86_64-linux.compose -L`.
{ pkgs, images, composeFile, k6Dir }:
let
  meta = builtins.fromJSON (builtins.readFile ./images.json);
  params = {
    emulator_image = "${meta.registry}/${meta.images.emulator}:${meta.tag}";
    ready_within_s = 75;
    schedule = "published";
    time_scale = "0.25";
    max_requests = "150";
    result_dir = "/tmp/k6-results";
  };
in
pkgs.testers.runNixOSTest {
  name = "rinha-compose";

  nodes.machine = { ... }: {
    virtualisation = {
      cores = 4;
      memorySize = 4096;
      diskSize = 8192;
      docker.enable = true;
    };

    environment.systemPackages = [ pkgs.docker-compose pkgs.k6 pkgs.curl ];
    environment.etc = {
      "rinha-compose/docker-compose.yml".source = composeFile;
      "rinha-compose/images".source = images.all;
      "rinha-compose/k6".source = k6Dir;
      "rinha-compose/params.json".text = builtins.toJSON params;
    };
  };

  # A plain .py file so pyflakes can lint it offline (tests/nix/check.sh).
  testScript = builtins.readFile ./compose-test.py;
}
