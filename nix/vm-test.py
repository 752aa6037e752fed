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
capped_units = list(stack_units)  # rinha-migrate has its own caps entry too
long_running = [u for u in stack_units if u != "rinha-migrate.service"]


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
            f"PURGE_TOKEN={params['purge_token']}",
            "K6_WEB_DASHBOARD=true",
            f"K6_WEB_DASHBOARD_EXPORT={out}/report.html",
            "K6_NO_USAGE_REPORT=true",
        ]
    )
    machine.succeed(f"mkdir -p {out}")
    machine.succeed(f"cd /etc/rinha-vm-test/k6 && env {env} k6 run rinha.js >&2", timeout=900)
    for name in ("score.json", "k6-extra.json", "report.html"):
        machine.copy_from_vm(f"{out}/{name}", "")

with subtest("the published run: score floor, consistency, failures, lag"):
    score = json.loads(machine.succeed(f"cat {out}/score.json"))
    extra = json.loads(machine.succeed(f"cat {out}/k6-extra.json"))
    posts_ok = int(extra["posts_ok"])
    posts_failed = int(extra["posts_failed"])
    inconsistencies = int(extra["inconsistencies"])
    lag = int(extra["lag"])

    # lag_drained: accepted minus booked once the backend has caught up (up to drain_timeout_s).
    deadline = time.monotonic() + float(params["drain_timeout_s"])
    booked = summary_total()
    while booked != posts_ok and time.monotonic() < deadline:
        time.sleep(1)
        booked = summary_total()
    lag_drained = posts_ok - booked

    # p99 is recorded (k6-extra.json in $out, and this line in the log), not asserted.
    machine.log(
        f"RESULT score={extra['score']} p99={extra['p99_ms']}ms p99_backend={extra.get('p99_backend_ms')}ms "
        f"posts_ok={posts_ok} posts_failed={posts_failed} inconsistencies={inconsistencies} lag={lag} "
        f"lag_drained={lag_drained} floor={params['score_floor']}"
    )
    machine.succeed("journalctl -u 'rinha-*' --no-pager -n 200 >&2")
    assert inconsistencies == 0, f"{inconsistencies} inconsistencies"
    assert posts_failed == 0, f"{posts_failed} POSTs failed"
    assert posts_ok > 0, "no payment was accepted"
    assert lag == 0, f"lag = {lag} at the end of the run"
    assert lag_drained == 0, f"lag_drained = {lag_drained} (posts_ok {posts_ok}, booked {booked})"
    assert float(extra["score"]) >= float(params["score_floor"]), (
        f"score {extra['score']} below the floor {params['score_floor']}"
    )
    assert score["multa"]["composicao"]["num_inconsistencias"] == inconsistencies

with subtest("no unit restarted, nothing OOM-killed in rinha.slice"):
    for unit in long_running:
        restarts = machine.succeed(f"systemctl show -p NRestarts --value {unit}").strip()
        assert restarts == "0", f"{unit} restarted {restarts} times"
    events = machine.succeed("cat /sys/fs/cgroup/rinha.slice/memory.events")
    oom_kills = int(dict(line.split() for line in events.splitlines())["oom_kill"])
    assert oom_kills == 0, f"{oom_kills} OOM kills in rinha.slice: {events}"
    machine.fail("journalctl -k --no-pager | grep -i 'oom-kill.*rinha'")
