# NixOS VM test script for nix/vm-test.nix (globals `machine`, `start_all`, `subtest`
# come from the NixOS test driver). Kept as a .py file so it can be linted offline.
import json
import time

stack_units = [
    "postgresql.service",
    "redis-rinha.service",
    "rinha-migrate.service",
    "rinha-api1.service",
    "rinha-api2.service",
    "rinha-worker.service",
    "nginx.service",
]
capped_units = [u for u in stack_units if u != "rinha-migrate.service"]


def summary_total() -> int:
    body = json.loads(machine.succeed("curl -sf http://127.0.0.1:9999/payments-summary"))
    return int(body["default"]["totalRequests"]) + int(body["fallback"]["totalRequests"])


start_all()
params = json.loads(machine.succeed("cat /etc/rinha-vm-test/params.json"))

with subtest("the stack comes up under its caps"):
    for unit in stack_units + ["payment-processor-default.service", "payment-processor-fallback.service"]:
        machine.wait_for_unit(unit)
    machine.wait_for_open_port(9999)
    machine.wait_for_open_port(8001)
    machine.wait_for_open_port(8002)
    machine.wait_until_succeeds("curl -sf http://127.0.0.1:9999/payments-summary", timeout=60)
    for unit in capped_units:
        props = machine.succeed(f"systemctl show -p Slice,CPUQuotaPerSecUSec,MemoryMax {unit}")
        assert "Slice=rinha.slice" in props, f"{unit} not in rinha.slice: {props}"
        assert "CPUQuotaPerSecUSec=infinity" not in props, f"{unit} has no CPU cap: {props}"
        assert "MemoryMax=infinity" not in props, f"{unit} has no memory cap: {props}"
    slice = machine.succeed("systemctl show -p CPUQuotaPerSecUSec,MemoryMax rinha.slice")
    assert "CPUQuotaPerSecUSec=1.500000s" in slice, f"rinha.slice CPU cap: {slice}"
    assert "MemoryMax=367001600" in slice, f"rinha.slice memory cap (350M): {slice}"

with subtest("k6 runs the offline scenario"):
    machine.log(machine.succeed("k6 version"))
    out = params["result_dir"]
    env = " ".join(
        [
            f"SCHEDULE={params['schedule']}",
            f"TIME_SCALE={params['time_scale']}",
            f"MAX_REQUESTS={params['max_requests']}",
            f"BACKEND_URL={params['backend_url']}",
            f"PROCESSOR_DEFAULT_URL={params['default_url']}",
            f"PROCESSOR_FALLBACK_URL={params['fallback_url']}",
            f"RESULT_DIR={out}",
            "K6_WEB_DASHBOARD=true",
            f"K6_WEB_DASHBOARD_EXPORT={out}/report.html",
            "K6_NO_USAGE_REPORT=true",
        ]
    )
    machine.succeed(f"mkdir -p {out}")
    machine.succeed(f"cd /etc/rinha-vm-test/k6 && env {env} k6 run rinha.js >&2", timeout=900)
    machine.copy_from_vm(f"{out}/score.json", "")
    machine.copy_from_vm(f"{out}/report.html", "")

with subtest("consistency, failures and drained lag"):
    score = json.loads(machine.succeed(f"cat {out}/score.json"))
    extra = json.loads(machine.succeed(f"cat {out}/k6-extra.json"))
    posts_ok = int(extra.get("posts_ok", score["pagamentos_solicitados"]["qtd_sucesso"]))
    posts_failed = int(extra.get("posts_failed", score["pagamentos_solicitados"]["qtd_falha"]))
    inconsistencies = int(extra.get("inconsistencies", score["multa"]["composicao"]["num_inconsistencias"]))

    # lag_drained: accepted minus booked once the backend has caught up (up to 60 s).
    deadline = time.monotonic() + float(params["drain_timeout_s"])
    booked = summary_total()
    while booked != posts_ok and time.monotonic() < deadline:
        time.sleep(1)
        booked = summary_total()
    lag_drained = posts_ok - booked

    machine.log(
        f"score={score.get('total_liquido')} p99={score.get('p99')} posts_ok={posts_ok} "
        f"posts_failed={posts_failed} inconsistencies={inconsistencies} lag_drained={lag_drained}"
    )
    machine.succeed("journalctl -u 'rinha-*' --no-pager -n 200 >&2")
    assert inconsistencies == 0, f"{inconsistencies} inconsistencies"
    assert posts_failed == 0, f"{posts_failed} POSTs failed"
    assert lag_drained == 0, f"lag_drained = {lag_drained} (posts_ok {posts_ok}, booked {booked})"
    assert posts_ok > 0, "no payment was accepted"
