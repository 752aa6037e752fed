# NixOS VM test script for nix/compose-test.nix (globals `machine`, `start_all`, `subtest`
# come from the NixOS test driver). Kept as a .py file so it can be linted offline.
import json
import time

start_all()
machine.wait_for_unit("docker.service")
params = json.loads(machine.succeed("cat /etc/rinha-compose/params.json"))
work = "/tmp/rinha-compose"

with subtest("docker load the Nix-built images"):
    machine.succeed("for i in /etc/rinha-compose/images/*.tar.gz; do docker load -i $i; done >&2")
    loaded = machine.succeed("docker image ls --format '{{.Repository}}:{{.Tag}}'")
    # The compose file names images by name:tag, pinned @sha256 once published; a loaded image has
    # no registry digest, so the copy used here drops the pin (the name:tag is what was built).
    machine.succeed(f"mkdir -p {work} && sed 's/@sha256:[0-9a-f]*//' /etc/rinha-compose/docker-compose.yml"
                    f" > {work}/docker-compose.yml")
    for ref in machine.succeed(f"sed -n 's/^ *image: \"\\(.*\\)\"/\\1/p' {work}/docker-compose.yml | sort -u").split():
        assert ref in loaded, f"{ref} (docker-compose.yml) is not among the loaded images: {loaded}"

with subtest("the external network payment-processor with two processors"):
    machine.succeed("docker network create payment-processor")
    for name, port, fee in (("default", 8001, "0.05"), ("fallback", 8002, "0.15")):
        machine.succeed(
            f"docker run -d --name payment-processor-{name} --network payment-processor"
            f" -p 127.0.0.1:{port}:8080 {params['emulator_image']}"
            f" --listen 0.0.0.0:8080 --fee {fee} --token 123"
        )
    machine.wait_until_succeeds("curl -sf http://127.0.0.1:8001/payments/service-health", timeout=30)
    machine.wait_until_succeeds("curl -sf http://127.0.0.1:8002/payments/service-health", timeout=30)

with subtest(f"docker-compose up: :9999 answers within {params['ready_within_s']} s"):
    started = time.monotonic()
    machine.succeed(f"cd {work} && docker-compose up -d >&2")
    machine.wait_until_succeeds("curl -sf http://127.0.0.1:9999/payments-summary", timeout=params["ready_within_s"])
    machine.log(f"RESULT :9999 answered {time.monotonic() - started:.1f} s after docker-compose up")
    machine.succeed(f"cd {work} && docker-compose ps >&2")

with subtest("a short k6 run has no inconsistency"):
    out = params["result_dir"]
    env = " ".join([
        f"SCHEDULE={params['schedule']}",
        f"TIME_SCALE={params['time_scale']}",
        f"MAX_REQUESTS={params['max_requests']}",
        "BACKEND_URL=http://127.0.0.1:9999",
        "PROCESSOR_DEFAULT_URL=http://127.0.0.1:8001",
        "PROCESSOR_FALLBACK_URL=http://127.0.0.1:8002",
        f"RESULT_DIR={out}",
        "K6_NO_USAGE_REPORT=true",
    ])
    machine.succeed(f"mkdir -p {out} && cd /etc/rinha-compose/k6 && env {env} k6 run rinha.js >&2", timeout=600)
    machine.copy_from_vm(f"{out}/k6-extra.json", "")
    extra = json.loads(machine.succeed(f"cat {out}/k6-extra.json"))
    machine.log(f"RESULT score={extra['score']} p99={extra['p99_ms']}ms inconsistencies={extra['inconsistencies']} "
                f"posts_ok={extra['posts_ok']} posts_failed={extra['posts_failed']}")
    machine.succeed(f"cd {work} && docker-compose logs --no-color --tail 50 >&2")
    assert int(extra["inconsistencies"]) == 0, f"{extra['inconsistencies']} inconsistencies"
    assert int(extra["posts_failed"]) == 0, f"{extra['posts_failed']} POSTs failed"
    assert int(extra["posts_ok"]) > 0, "no payment was accepted"
