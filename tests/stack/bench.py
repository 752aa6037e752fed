"""`make bench`: our capped stack under the offline official scenario, then the floor, then the table.

Why the floor: on a 2-core machine shared with k6 the absolute p99 says little; nginx alone under the
same cap answering constants, hit by the same script with the same emulators, is the best this machine
can do, and our p99 minus that p99 ("overhead") is what we steer by.

Results go to target/bench/<UTC time>/ (run-N/ and floor-N/ with score.json, k6-extra.json,
report.html, k6.log, logs/), plus table.txt and the top-level score.json/report.html of the median run;
target/bench/latest points at the newest. Exit 0 unless the infrastructure failed or a lag was negative.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import control
import k6run
import layout
import memory
import services
import timeline
import wire

SERVICES = ("nginx", "api1", "api2", "worker", "redis", "postgres", "load (k6+emulators)")


def one_run(out: Path, label: str, mode: str, fees: dict) -> dict:
    """up → k6 → (stack: wait for the queue to drain) → counters and logs → down. Always leaves it down."""
    t0 = time.monotonic()
    run_dir = control.up(emulators=True, purge=True, mode=mode, fees=fees)
    print(f"[bench] {label}: stack up in {time.monotonic() - t0:.1f} s", flush=True)
    row: dict = {"label": label, "mode": mode}
    slowlog = mode == "stack" and start_redis_slowlog(run_dir)
    seconds = timeline.Sampler.for_run(out, control.read_state(run_dir) or {}, run_dir).start()
    sampler = memory.Sampler(run_dir, every_s=2.0).start()
    capture = None
    try:
        if layout.env_flag("WIRE"):
            out.mkdir(parents=True, exist_ok=True)
            capture = wire.Capture(out / "wire.pcap", wire_ports(mode)).start()
        res = k6run.run(out, label, env_extra=timeline.k6_env(out))
        if capture:
            row["wire_capture"] = capture.stop()
            capture = None
            try:
                row["wire"] = wire.summarise(out / "wire.pcap", set(services.API_PORTS.values()), services.REDIS_PORT)
                (out / "wire.pcap").unlink()
            except ValueError as exc:  # the run itself stands; the capture stays for a look by hand
                print(f"[bench] {label}: wire capture unreadable: {exc}", file=sys.stderr, flush=True)
        row.update(ok=res.ok, official=res.official, extra=res.extra)
        if res.ok and mode == "stack":
            print(f"[bench] {label}: waiting for the queue to drain (≤ {k6run.DRAIN_TIMEOUT_S:.0f} s)", flush=True)
            lag, secs = k6run.lag_drained(int(res.extra.get("posts_ok") or 0))
            row["lag_drained"] = lag
            print(f"[bench] {label}: lag_drained {lag} after {secs:.1f} s", flush=True)
        sampler.stop()
        save_redis_commandstats(run_dir, out)
        if slowlog:
            row["redis_slow"] = save_redis_slowlog(run_dir, out)
        row["memory_peaks"] = sampler.peaks()  # Redis used_memory and anonymous RSS, sampled every 2 s
        row["services"] = control.service_stats(run_dir)
        row["uncapped"] = (control.read_state(run_dir) or {}).get("uncapped")
    finally:
        if capture:
            capture.stop()
        seconds.stop()
        sampler.stop()
        shutil.copytree(run_dir / "logs", out / "logs", dirs_exist_ok=True)
        for name in ("stack.json", "state.json", "nginx.conf"):
            if (run_dir / name).exists():
                shutil.copy(run_dir / name, out / name)
        control.down(quiet=True)
    (out / "row.json").write_text(json.dumps(row, indent=2, default=str) + "\n")
    return row


def wire_ports(mode: str) -> list[int]:
    """What WIRE=1 records: the front port, and on the stack and the bounds the APIs' (and Redis's)."""
    behind = [] if mode == "floor" else list(services.API_PORTS.values())
    return [wire.FRONT_PORT] + behind + ([services.REDIS_PORT] if mode in services.REDIS_MODES else [])


def save_redis_commandstats(run_dir: Path, out: Path) -> None:
    """Redis's calls and CPU per command (`INFO commandstats`) into `redis-commandstats.txt`: which of the
    queue's commands and scripts Redis's CPU went to."""
    try:
        text = memory.redis_command(str(run_dir / "redis.sock"), "INFO", "commandstats").decode(errors="replace")
    except OSError as err:
        text = f"INFO commandstats failed: {err}\n"
    (out / "redis-commandstats.txt").write_text(text)


# Redis serves every POST's intake script, so a command of the worker's that runs this long holds up every
# POST that arrives meanwhile; the slow log names them.
SLOWLOG_US = 500
SLOWLOG_LEN = 10_000


def start_redis_slowlog(run_dir: Path) -> bool:
    """Has Redis log every command slower than SLOWLOG_US (the bench's instrument, not a service setting);
    False if Redis refused, since a log kept at Redis's default threshold would count too few."""
    sock = str(run_dir / "redis.sock")
    try:
        replies = [memory.redis_command(sock, "CONFIG", "SET", "slowlog-log-slower-than", str(SLOWLOG_US)),
                   memory.redis_command(sock, "CONFIG", "SET", "slowlog-max-len", str(SLOWLOG_LEN)),
                   memory.redis_command(sock, "SLOWLOG", "RESET")]
    except OSError as err:
        replies = [str(err)]
    if any(r != b"+OK" for r in replies):
        # Redis answers a refused command with an error reply, not an exception.
        print(f"[bench] Redis slow log not started: {replies}", file=sys.stderr, flush=True)
        return False
    return True


def script_names() -> dict[str, str]:
    """The queue's Lua scripts by their SHA1 (what EVALSHA names in the slow log)."""
    scripts = layout.REPO / "src" / "queue"
    return {hashlib.sha1(f.read_bytes()).hexdigest(): f.name for f in sorted(scripts.glob("*.lua"))}


def save_redis_slowlog(run_dir: Path, out: Path) -> dict:
    """The commands that held Redis longer than SLOWLOG_US, into `redis-slowlog.txt` (a summary per command
    or script, then every entry); returns their count and the longest, for the table."""
    try:
        entries = memory.redis_command(str(run_dir / "redis.sock"), "SLOWLOG", "GET", str(SLOWLOG_LEN))
    except OSError as err:
        entries = str(err).encode()
    if not isinstance(entries, list):
        # An error reply is no proof of zero slow commands: the table shows "-", not 0.
        (out / "redis-slowlog.txt").write_text(f"SLOWLOG GET failed: {entries!r}\n")
        return {}
    names = script_names()
    rows = []
    for entry in entries:
        _id, at, usec, argv = entry[:4]
        words = [a.decode(errors="replace") for a in argv]
        name = words[0].upper() if words else "?"
        if name == "EVALSHA" and len(words) > 1:
            name = f"EVALSHA {names.get(words[1], words[1][:8])}"
        rows.append((int(at.lstrip(b":")), int(usec.lstrip(b":")), name, " ".join(words[:8])))
    rows.sort()
    by_name: dict[str, list[int]] = {}
    for _at, usec, name, _words in rows:
        by_name.setdefault(name, []).append(usec)
    lines = [f"commands slower than {SLOWLOG_US} us: {len(rows)}"]
    for name, us in sorted(by_name.items(), key=lambda kv: -sum(kv[1])):
        lines.append(f"{name:<28} n={len(us):<5} total={sum(us) / 1000:.1f} ms  max={max(us) / 1000:.2f} ms")
    lines.append("")
    lines += [f"{at} {usec:>7} us  {words}" for at, usec, _name, words in rows]
    (out / "redis-slowlog.txt").write_text("\n".join(lines) + "\n")
    return {"count": len(rows), "max_ms": max((u for _a, u, _n, _w in rows), default=0) / 1000}


# -- reading a run ---------------------------------------------------------------------------------------
def metrics(row: dict) -> dict:
    """The table's numbers from one run (None where unknown)."""
    o, x = row.get("official", {}), row.get("extra", {})
    p99 = x.get("p99_ms")
    if p99 is None and isinstance(o.get("p99", {}).get("valor"), str):
        p99 = float(o["p99"]["valor"].rstrip("ms"))
    return {
        "score": o.get("total_liquido"),
        "p99 (ms)": p99,
        "p99_backend (ms)": x.get("p99_backend_ms"),
        "bonus (%)": x.get("bonus_pct"),
        "inconsistencies": x.get("inconsistencies"),
        "lag": o.get("lag", {}).get("lag", x.get("lag")),
        "lag_drained": row.get("lag_drained"),
        "default": o.get("pagamentos_realizados_default", {}).get("num_pagamentos"),
        "fallback": o.get("pagamentos_realizados_fallback", {}).get("num_pagamentos"),
        "failed POSTs": x.get("posts_failed"),
        f"Redis cmds > {SLOWLOG_US / 1000:g} ms": row.get("redis_slow", {}).get("count"),
        "slowest Redis cmd ms": row.get("redis_slow", {}).get("max_ms"),
        "audits non-empty": None if x.get("audits_total") is None else f"{x.get('audits_nonempty')}/{x.get('audits_total')}",
    }


def median(values: list):
    nums = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(nums) if nums else None


def fmt(v, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(rows: list[dict], floors: list[dict]) -> str:
    """The bench table: one column per run, the median when RUNS > 1, the floor; then per service."""
    ms = [metrics(r) for r in rows]
    fs = [metrics(f) for f in floors]
    cols = [r["label"] for r in rows] + (["median"] if len(rows) > 1 else []) + ["floor"]
    lines = [f"{'':<22}" + "".join(f"{c:>14}" for c in cols)]
    for key in ms[0]:
        vals = [m[key] for m in ms]
        if len(rows) > 1:
            vals.append(median(vals))
        vals.append(median([f[key] for f in fs]) if key in ("p99 (ms)", "p99_backend (ms)") else None)
        lines.append(f"{key:<22}" + "".join(f"{fmt(v):>14}" for v in vals))
    floor_p99 = median([f["p99 (ms)"] for f in fs])
    floor_be = median([f["p99_backend (ms)"] for f in fs])
    for key, floor in (("p99 (ms)", floor_p99), ("p99_backend (ms)", floor_be)):
        vals = [None if m[key] is None or floor is None else m[key] - floor for m in ms]
        if len(rows) > 1:
            vals.append(median(vals))
        name = "overhead p99" if key == "p99 (ms)" else "overhead p99_backend"
        lines.append(f"{name:<22}" + "".join(f"{fmt(v, 3):>14}" for v in vals))
    lines.append("")
    lines.append("per service (" + ("max peak / median CPU and throttles / total restarts over runs" if len(rows) > 1
                                    else rows[0]["label"]) + "; caps from nix/caps.json)")
    lines.append(f"{'service':<22}{'peak MiB':>10}{'anon MiB':>10}{'cap MiB':>9}{'CPU s':>9}{'cap mCPU':>10}"
                 f"{'throttled':>11}{'restarts':>10}")
    import caps as caps_mod

    caps = caps_mod.load()
    for name in SERVICES:
        stats = [r.get("services", {}).get(name) for r in rows]
        stats = [s for s in stats if s]
        if not stats:
            continue
        peaks = [s["memory_peak_bytes"] for s in stats if s.get("memory_peak_bytes") is not None]
        cap = caps.get(name)
        restarts = [s["restarts"] for s in stats if s.get("restarts") is not None]
        anon_key = "load_anon" if name.startswith("load") else f"{name}_anon"
        anons = [r.get("memory_peaks", {}).get(anon_key) for r in rows]
        anons = [a for a in anons if a is not None]
        lines.append(
            f"{name:<22}{fmt(max(peaks) / 2**20 if peaks else None, 1):>10}"
            f"{fmt(max(anons) / 2**20 if anons else None, 1):>10}{fmt(cap.memory_mib if cap else None):>9}"
            f"{fmt(median([s.get('cpu_seconds') for s in stats])):>9}{fmt(cap.cpu_millicores if cap else None):>10}"
            f"{fmt(median([s.get('nr_throttled') for s in stats])):>11}{fmt(sum(restarts) if restarts else None):>10}")
    floor_stats = [f.get("services", {}).get("nginx") for f in floors if f.get("services", {}).get("nginx")]
    if floor_stats:
        lines.append(f"{'nginx (floor)':<22}{fmt(max(s['memory_peak_bytes'] or 0 for s in floor_stats) / 2**20, 1):>10}"
                     f"{'':>10}{'':>9}{fmt(median([s.get('cpu_seconds') for s in floor_stats])):>9}{'':>10}"
                     f"{fmt(median([s.get('nr_throttled') for s in floor_stats])):>11}")
    used = [r.get("memory_peaks", {}).get("redis_used_memory") for r in rows]
    used = [u for u in used if u is not None]
    if used:
        lines.append(f"peak MiB is the cgroup's (v1 counts page cache, e.g. Redis's AOF); anon MiB the largest sampled "
                     f"RssAnon; Redis used_memory peak {max(used) / 2**20:.1f} MiB")
    if any(r.get("uncapped") for r in rows + floors):
        lines.append("")
        lines.append("!!! UNCAPPED: these runs had no CPU/memory caps; numbers are not comparable !!!")
    return "\n".join(lines) + "\n"


FRONT = ("nginx", "api1", "api2")


def cpu_per_1k(row: dict, names) -> float | None:
    """The named services' cgroup CPU seconds over their life, per 1,000 POSTs answered 2xx."""
    posts = row.get("extra", {}).get("posts_ok")
    cpu = [row.get("services", {}).get(n, {}).get("cpu_seconds") for n in names]
    if not posts or any(c is None for c in cpu):
        return None
    return 1000 * sum(cpu) / posts


BOUND_TITLES = {
    "bound": "bound: nginx → two nginx answering constants under the API caps (no Redis, no work)",
    "intake": "intake bound: nginx → two stand-ins under the API caps, each POST one XADD to Redis (deployed AOF)",
}


def ours(row: dict) -> list[str]:
    """The services a run started, the load group aside (k6 and the emulators are not ours to count)."""
    return [n for n, v in row.get("services", {}).items() if v.get("group") != "load"]


def bound_table(rows: list[dict], floors: list[dict], bounds: list[dict]) -> str:
    """BOUND=1: the architecture's front door with nothing behind it (nginx → two constant nginx under the
    API caps) beside our stack: what its overhead and CPU are when the API does no work at all. BOUND=intake:
    the same with the cheapest durable intake behind it, so the stack's excess over it is our own work."""
    floor_be = median([metrics(f)["p99_backend (ms)"] for f in floors])
    lines = ["", BOUND_TITLES[bounds[0]["mode"]],
             f"{'':<26}" + "".join(f"{r['label']:>12}" for r in bounds) + f"{'median':>12}{'stack':>12}"]

    def line(name: str, values: list, stack_value) -> None:
        lines.append(f"{name:<26}" + "".join(f"{fmt(v):>12}" for v in values)
                     + f"{fmt(median(values)):>12}{fmt(stack_value):>12}")

    bound_be = [metrics(b)["p99_backend (ms)"] for b in bounds]
    stack_be = median([metrics(r)["p99_backend (ms)"] for r in rows])
    line("p99_backend (ms)", bound_be, stack_be)
    line("overhead over floor (ms)",
         [None if v is None or floor_be is None else v - floor_be for v in bound_be],
         None if stack_be is None or floor_be is None else stack_be - floor_be)
    line("nginx+APIs CPU s / 1k", [cpu_per_1k(b, FRONT) for b in bounds], median([cpu_per_1k(r, FRONT) for r in rows]))
    line("all services CPU s / 1k", [cpu_per_1k(b, ours(b)) for b in bounds], median([cpu_per_1k(r, ours(r)) for r in rows]))
    return "\n".join(lines) + "\n"


def wire_table(rows: list[dict], others: list[dict]) -> str:
    """WIRE=1: per run, floor and bound, k6's p99 beside the wire's, then the stack's hops."""
    every = rows + others
    lines = ["", "wire (WIRE=1; tcpdump on loopback while k6 runs; POST ms):",
             f"{'':28}" + "".join(f"{r['label']:>12}" for r in every)]

    def line(name: str, values: list) -> None:
        lines.append(f"{name:28}" + "".join(f"{fmt(v):>12}" for v in values))

    line("k6 p99_backend", [metrics(r)["p99_backend (ms)"] for r in every])
    for q in ("p50", "p90", "p99"):
        line(f"wire {q}", [(r.get("wire") or {}).get("wire_ms", {}).get(q) for r in every])
    line("POSTs on the wire", [(r.get("wire") or {}).get("posts") for r in every])
    for r in rows:
        hops = (r.get("wire") or {}).get("hops_ms")
        if not hops:
            continue
        lines.append(f"{r['label']} hops ({r['wire']['traced']} POSTs traced): p50 / p99 / mean of the slowest 1 %")
        for name, v in hops.items():
            lines.append(f"  {name:26}{fmt(v['p50']):>8}{fmt(v['p99']):>8}{fmt(v['slowest_1pct_mean']):>8}")
    return "\n".join(lines) + "\n"


def machine() -> str:
    """One line about where this ran: the table means little without it."""
    try:
        model = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                     if ln.startswith("model name"))
    except (OSError, StopIteration):
        model = "unknown CPU"
    return f"{os.uname().nodename}: {os.cpu_count()} CPUs ({model}), Linux {os.uname().release}"


def pick_median_run(rows: list[dict]) -> dict:
    scored = sorted((r for r in rows if r.get("ok")), key=lambda r: r["official"].get("total_liquido") or 0)
    return scored[len(scored) // 2] if scored else rows[0]


def main() -> int:
    runs = int(os.environ.get("RUNS") or 1)
    sched_name = os.environ.get("SCHEDULE") or "published"
    fees = k6run.schedule(sched_name)["fees"]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    root = layout.TARGET / "bench" / stamp
    root.mkdir(parents=True)
    latest = layout.TARGET / "bench" / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(stamp)
    print(f"[bench] {runs} run(s) of schedule {sched_name} + floor → {root}", flush=True)
    rows, floors, bounds, failed = [], [], [], []
    bound = layout.bound_mode()
    if layout.env_flag("WIRE") and control.links_setting() != "tcp":
        print("[bench] WIRE=1 reads the loopback TCP wire: it needs LINKS=tcp", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    for i in range(1, runs + 1):
        modes = [("stack", f"run-{i}", rows), ("floor", f"floor-{i}", floors)]
        if bound:
            modes.append((bound, f"{bound}-{i}", bounds))
        for mode, label, bucket in modes:
            try:
                row = one_run(root / label, label, mode, fees)
            except control.UpError as exc:
                print(f"[bench] {label}: up failed: {exc}", file=sys.stderr, flush=True)
                row = {"label": label, "mode": mode, "ok": False}
            if not row.get("ok"):
                failed.append(label)
            bucket.append(row)
            print(f"[bench] {label} finished (+{time.monotonic() - t0:.0f} s total)", flush=True)
    text = f"rinha-rs bench {stamp} · schedule {sched_name} · {machine()}\n\n" + table(rows, floors)
    if bounds:
        text += bound_table(rows, floors, bounds)
    if any(r.get("wire") for r in rows + floors):
        text += wire_table(rows, floors + bounds)
    time_scale = float(os.environ.get("TIME_SCALE") or 1)
    stages = [st | {"at_s": st["at_s"] * time_scale} for st in k6run.schedule(sched_name)["stages"]]
    for i in range(1, runs + 1):
        # The bound's buckets too: the bucket bar means little if the bound itself misses it.
        for label in [f"run-{i}"] + ([f"{bound}-{i}"] if bound else []):
            text += f"\n{label}, per {timeline.BUCKET_S} s bucket (POST ms; CPU and throttled seconds per service):\n"
            text += timeline.report(root / label, root / f"floor-{i}", stages)
    (root / "table.txt").write_text(text)
    best = pick_median_run(rows)
    for name in ("score.json", "report.html", "k6-extra.json"):
        src = root / best["label"] / name
        if src.exists():
            shutil.copy(src, root / name)
    if (root / best["label"] / "logs").exists():
        (root / "logs").symlink_to(Path(best["label"]) / "logs")
    print("\n" + text, flush=True)
    print(f"[bench] results: {root} (target/bench/latest)", flush=True)
    negative = [r["label"] for r in rows if isinstance(metrics(r)["lag"], (int, float)) and metrics(r)["lag"] < 0]
    if failed:
        print(f"[bench] FAILED: infrastructure failed for {', '.join(failed)}", file=sys.stderr)
    if negative:
        print(f"[bench] FAILED: negative lag (disqualifying) in {', '.join(negative)}", file=sys.stderr)
    return 1 if failed or negative else 0
