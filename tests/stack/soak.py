"""`make soak [RATE=300] [DURATION=120]`: POSTs at a constant rate, then the books and the memory curves.

    up (emulators, fresh state) → k6/soak.js at RATE/s for DURATION s, sampling memory every SAMPLE_S and
    forcing one AOF rewrite (BGREWRITEAOF forks) at REWRITE_AT of the run → drain → counts → down.

The counts, once the queue has drained: POSTs answered 202 (accepted), refused (4xx), failed (5xx) or not
answered within 1.5 s, and iterations k6 could not send (dropped); booked = our all-time summary;
stored = the emulators' admin summaries. lost = accepted − stored; per processor, stored but not booked
by us (a payment charged twice, at both processors, shows up here: the ledger books it once) and booked
but not stored; and the money: every booked cent is accepted × AMOUNT.

Memory: Redis `used_memory` and each service's anonymous RSS (memory.py says why not the cgroup peak),
with its least-squares slope over the last third of the load; "flat" means that slope × the last third's
length stays within FLAT_TOLERANCE_BYTES. The rewrite: the fork's copied pages (Redis's current_cow_size
and the child's Private_Dirty) plus the parent's RssAnon must fit Redis's cgroup cap.

RINHA_DEDUPE_WINDOW_MS (and any RINHA_* setting) reaches the services as for `make up`. Results in
target/soak/<UTC time>/: samples.csv, soak.json, k6.log, logs/.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path

import caps as caps_mod
import cgroups
import control
import k6run
import layout
import memory
import probe
import services

SAMPLE_S = 5.0
REWRITE_AT = 0.5  # fraction of DURATION at which BGREWRITEAOF is sent
FLAT_TOLERANCE_BYTES = 1 << 20  # growth allowed over the last third (1 MiB: noise of allocators and buckets)
DRAIN_TIMEOUT_S = 120.0
STABLE_S = 5.0
AMOUNT_CENTS = 1990  # k6/soak.js's AMOUNT, 19.90
FLAT_REQUIRED = ("redis_used_memory", "api1_anon", "api2_anon", "worker_anon")


def say(msg: str) -> None:
    print(f"[soak] {msg}", flush=True)


# -- reading the books ---------------------------------------------------------------------------------------
def cents(text: str) -> int:
    """An amount's JSON text (read with parse_float=str, never through a float) → integer cents, exactly."""
    return int(Decimal(text) * 100)


def our_summary() -> dict | None:
    try:
        status, body = probe.http_request(k6run.BACKEND, "/payments-summary", timeout=5)
        doc = json.loads(body, parse_float=str, parse_int=str)
        return {p: (int(doc[p]["totalRequests"]), cents(doc[p]["totalAmount"])) for p in ("default", "fallback")}
    except (OSError, ArithmeticError, ValueError, KeyError, TypeError):
        return None


def stored_summary() -> dict | None:
    out = {}
    for _, addr, which in services.EMULATORS:
        try:
            status, body = probe.http_request(addr, "/admin/payments-summary", timeout=5,
                                              headers={"X-Rinha-Token": services.EMULATOR_TOKEN})
            doc = json.loads(body, parse_float=str, parse_int=str)
            out[which] = (int(doc["totalRequests"]), cents(doc["totalAmount"]))
        except (OSError, ArithmeticError, ValueError, KeyError, TypeError):
            return None
    return out


def drain(accepted: int) -> tuple[dict | None, dict | None, float]:
    """Poll both books until ours holds ≥ `accepted` and neither moved for STABLE_S (or the timeout)."""
    start = time.monotonic()
    last, since = None, start
    ours = stored = None
    while time.monotonic() - start < DRAIN_TIMEOUT_S:
        ours, stored = our_summary(), stored_summary()
        now = time.monotonic()
        key = (json.dumps(ours), json.dumps(stored))
        if key != last:
            last, since = key, now
        booked = sum(n for n, _ in ours.values()) if ours else -1
        if booked >= accepted and now - since >= STABLE_S:
            break
        if ours and now - since >= 3 * STABLE_S:
            break  # stuck below the accepted count: report what is missing rather than wait out the timeout
        time.sleep(1.0)
    return ours, stored, time.monotonic() - start


# -- the AOF rewrite -----------------------------------------------------------------------------------------
def rewrite_aof(run_dir: Path, redis_dirs: list[str], cap_bytes: int) -> dict:
    """BGREWRITEAOF, then watch the fork until it is done: its copied pages against Redis's cap."""
    sock = str(run_dir / "redis.sock")
    parent = (control.read_state(run_dir) or {}).get("services", {}).get("redis", {}).get("pid")
    out: dict = {"reply": None, "peak_cow_bytes": 0, "peak_child_private_dirty_bytes": 0,
                 "peak_parent_anon_bytes": 0, "peak_group_anon_bytes": 0}
    oom_before = oom_kills(redis_dirs)
    try:
        out["reply"] = memory.redis_command(sock, "BGREWRITEAOF").decode(errors="replace")
    except OSError as exc:
        out["reply"] = f"error: {exc}"
        return out
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120:
        info = memory.redis_info(sock)
        out["peak_cow_bytes"] = max(out["peak_cow_bytes"], memory.info_int(info, "current_cow_size") or 0)
        for pid in cgroups.pids(redis_dirs):
            if pid == parent:
                out["peak_parent_anon_bytes"] = max(out["peak_parent_anon_bytes"],
                                                    (memory.status_kib(pid, "RssAnon") or 0) * 1024)
            else:
                out["peak_child_private_dirty_bytes"] = max(out["peak_child_private_dirty_bytes"],
                                                            (memory.private_dirty_kib(pid) or 0) * 1024)
        out["peak_group_anon_bytes"] = max(out["peak_group_anon_bytes"], memory.group_anon_bytes(redis_dirs)[0])
        if info.get("aof_rewrite_in_progress") == "0" and info.get("aof_rewrite_scheduled") == "0" \
                and time.monotonic() - t0 > 0.5:
            out["status"] = info.get("aof_last_bgrewrite_status")
            out["seconds"] = memory.info_int(info, "aof_last_rewrite_time_sec")
            out["last_cow_bytes"] = memory.info_int(info, "aof_last_cow_size")
            break
        time.sleep(0.1)
    else:
        out["status"] = "still running after 120 s"
    fork = max(out["peak_cow_bytes"], out.get("last_cow_bytes") or 0, out["peak_child_private_dirty_bytes"])
    out["fork_bytes"] = fork
    out["parent_plus_fork_bytes"] = out["peak_parent_anon_bytes"] + fork
    out["cap_bytes"] = cap_bytes
    out["oom_kills"] = oom_kills(redis_dirs) - oom_before
    out["fits"] = out.get("status") == "ok" and out["parent_plus_fork_bytes"] <= cap_bytes and not out["oom_kills"]
    return out


def oom_kills(dirs: list[str]) -> int:
    """cgroup v1's memory.oom_control `oom_kill` count (0 where the file or field is absent)."""
    for d in dirs:
        try:
            for line in Path(d, "memory.oom_control").read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except (OSError, ValueError):
            continue
    return 0


# -- k6 ------------------------------------------------------------------------------------------------------
def run_k6(out: Path, rate: int, duration: int, load_dirs: list[str]) -> tuple[int, dict | None]:
    k6 = layout.k6_bin()
    if not k6:
        raise control.UpError("k6 not found: run tests/tools/install-deps.sh")
    env = dict(os.environ) | {"RATE": str(rate), "DURATION": str(duration), "RESULT_DIR": str(out),
                              "BACKEND_URL": f"http://{k6run.BACKEND}", "K6_NO_USAGE_REPORT": "true"}
    with open(out / "k6.log", "wb") as log:
        proc = subprocess.run([k6, "run", "--no-color", "--quiet", str(k6run.K6_DIR / "soak.js")], env=env,
                              cwd=k6run.K6_DIR, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                              preexec_fn=(lambda: cgroups.join(load_dirs)) if load_dirs else None,
                              timeout=duration * 2 + 120)
    try:
        return proc.returncode, json.loads((out / "k6-soak.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return proc.returncode, None


# -- analysis ------------------------------------------------------------------------------------------------
def series_report(samples: list[dict], load_end: float) -> dict[str, dict]:
    """Per numeric series: first and last value under load, max, and the slope over the last third."""
    under_load = [s for s in samples if s["phase"] == "load"]
    if not under_load:
        return {}
    t_start, t_end = under_load[0]["t"], load_end
    last_third = [s for s in under_load if s["t"] >= t_start + 2 * (t_end - t_start) / 3]
    span = (last_third[-1]["t"] - last_third[0]["t"]) if len(last_third) > 1 else 0
    out = {}
    for key in under_load[0]:
        if key in ("t", "phase", "redis_keys", "redis_aof_rewriting") or key.endswith("_procs"):
            continue
        values = [s.get(key) for s in under_load if s.get(key) is not None]
        if not values:
            continue
        k = memory.slope([(s["t"], s.get(key)) for s in last_third])
        growth = None if k is None else k * span
        out[key] = {"first": values[0], "last": values[-1], "max": max(values),
                    "slope_per_s": k, "last_third_growth": growth,
                    "flat": growth is not None and growth <= FLAT_TOLERANCE_BYTES}
    return out


def mib(v) -> str:
    return "-" if v is None else f"{v / 2**20:.2f}"


def main() -> int:
    rate = int(os.environ.get("RATE") or 300)
    duration = int(os.environ.get("DURATION") or 120)
    window = os.environ.get("RINHA_DEDUPE_WINDOW_MS")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = layout.TARGET / "soak" / stamp
    out.mkdir(parents=True)
    say(f"{rate}/s for {duration} s ({rate * duration:,} payments), dedupe window "
        f"{window + ' ms' if window else 'the service default (RINHA_DEDUPE_WINDOW_MS unset)'} → {out}")
    if window and int(window) > duration * 1000 / 3:
        say("NOTE: the window is longer than a third of the run: used_memory cannot be flat in the last third")
    caps = caps_mod.load()
    run_dir = control.up(emulators=True, purge=True)
    samples: list[dict] = []
    doc: dict = {"rate": rate, "duration_s": duration, "dedupe_window_ms": window, "amount_cents": AMOUNT_CENTS}
    try:
        state = control.read_state(run_dir) or {}
        groups = state.get("cgroup", {}).get("groups", {})
        restarts_before = {n: s.get("restarts") for n, s in state.get("services", {}).items()}
        sampler = memory.Sampler(run_dir, SAMPLE_S).start()
        rewrite: dict = {}

        def rewrite_later() -> None:
            time.sleep(duration * REWRITE_AT)
            say("BGREWRITEAOF")
            rewrite.update(rewrite_aof(run_dir, groups.get("redis", []), caps["redis"].memory_bytes))
            say(f"rewrite {rewrite.get('status')}: fork {mib(rewrite.get('fork_bytes'))} MiB + parent "
                f"{mib(rewrite.get('peak_parent_anon_bytes'))} MiB of a {mib(rewrite.get('cap_bytes'))} MiB cap")

        sampler.phase = "load"
        rewriter = threading.Thread(target=rewrite_later, daemon=True)
        rewriter.start()
        t_load = time.monotonic()
        rc, k6 = run_k6(out, rate, duration, groups.get("load", []))
        load_end = time.monotonic() - sampler.t0
        sampler.phase = "drain"
        say(f"k6 done in {time.monotonic() - t_load:.0f} s (exit {rc}): {k6}")
        rewriter.join(timeout=130)
        accepted = (k6 or {}).get("accepted", 0)
        ours, stored, drain_s = drain(accepted)
        samples = sampler.stop()
        state = control.read_state(run_dir) or {}
        restarts = {n: s.get("restarts") for n, s in state.get("services", {}).items()
                    if s.get("restarts") != restarts_before.get(n)}
        doc.update(k6=k6, k6_exit=rc, ours=ours, stored=stored, drain_s=round(drain_s, 1), rewrite=rewrite,
                   restarts=restarts, series=series_report(samples, load_end))
    finally:
        shutil.copytree(run_dir / "logs", out / "logs", dirs_exist_ok=True)
        control.down(quiet=True)
    with open(out / "samples.csv", "w", newline="") as f:
        keys = list(dict.fromkeys(k for s in samples for k in s))
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(samples)
    checks = verdicts(doc)
    doc["checks"] = [{"name": n, "passed": p, "detail": d} for n, p, d in checks]
    (out / "soak.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    print_report(doc, checks)
    say(f"results in {out}")
    return 0 if all(p for _, p, _ in checks) else 1


def verdicts(doc: dict) -> list[tuple[str, bool, str]]:
    k6, ours, stored, rw = doc.get("k6") or {}, doc.get("ours"), doc.get("stored"), doc.get("rewrite") or {}
    accepted = k6.get("accepted", 0)
    failed = sum(k6.get(k, 0) for k in ("refused_4xx", "failed_5xx", "no_answer", "other"))
    out = [("k6 ran and reported", bool(k6), f"exit {doc.get('k6_exit')}"),
           ("no failed POST", bool(k6) and failed == 0,
            f"{failed} of {accepted + failed} (4xx {k6.get('refused_4xx')}, 5xx {k6.get('failed_5xx')}, "
            f"no answer {k6.get('no_answer')})"),
           ("every POST was sent (no dropped iteration)", bool(k6) and k6.get("dropped_iterations") == 0,
            f"{k6.get('dropped_iterations')} dropped: k6 had no free VU in time, the rate was not delivered")]
    if ours and stored:
        booked = sum(n for n, _ in ours.values())
        n_stored = sum(n for n, _ in stored.values())
        unbooked = sum(max(0, stored[p][0] - ours[p][0]) for p in ours)
        unstored = sum(max(0, ours[p][0] - stored[p][0]) for p in ours)
        out += [("lost = accepted − stored = 0", accepted == n_stored,
                 f"accepted {accepted:,}, stored {n_stored:,}, booked {booked:,}"),
                ("stored but not booked (double-charged or unbooked) = 0", unbooked == 0,
                 " / ".join(f"{p} stored {stored[p][0]:,} booked {ours[p][0]:,}" for p in ours)),
                ("booked but not stored = 0", unstored == 0, f"{unstored}"),
                ("booked money = accepted × 19.90, same at the processors",
                 sum(c for _, c in ours.values()) == accepted * AMOUNT_CENTS == sum(c for _, c in stored.values()),
                 f"ours {sum(c for _, c in ours.values()):,} ¢, processors {sum(c for _, c in stored.values()):,} ¢, "
                 f"expected {accepted * AMOUNT_CENTS:,} ¢")]
    else:
        out.append(("both books readable after the drain", False, f"ours {ours}, processors {stored}"))
    series = doc.get("series") or {}
    for key in FLAT_REQUIRED:
        s = series.get(key)
        out.append((f"{key} flat over the last third (≤ {FLAT_TOLERANCE_BYTES / 2**20:g} MiB growth)",
                    bool(s and s["flat"]), "no samples" if not s else
                    f"{mib(s['last_third_growth'])} MiB growth, {mib(s['first'])} → {mib(s['last'])} MiB"))
    out.append(("an AOF rewrite fits Redis's cap", bool(rw.get("fits")),
                f"status {rw.get('status')}, parent {mib(rw.get('peak_parent_anon_bytes'))} MiB + fork "
                f"{mib(rw.get('fork_bytes'))} MiB vs cap {mib(rw.get('cap_bytes'))} MiB, OOM kills {rw.get('oom_kills')}"))
    out.append(("no service restarted", not doc.get("restarts"), f"{doc.get('restarts') or 'none'}"))
    return out


def print_report(doc: dict, checks: list) -> None:
    k6 = doc.get("k6") or {}
    print(f"\nsoak: {doc['rate']}/s × {doc['duration_s']} s, window {doc.get('dedupe_window_ms') or 'default'}; "
          f"POST p99 {k6.get('post_ms_p99') or 0:.2f} ms, max {k6.get('post_ms_max') or 0:.0f} ms; "
          f"drain {doc.get('drain_s')} s")
    print(f"\n{'series (under load)':<26}{'first MiB':>11}{'last MiB':>10}{'max MiB':>9}"
          f"{'slope KiB/s':>13}{'last third':>12}  flat")
    for key, s in (doc.get("series") or {}).items():
        k = s["slope_per_s"]
        print(f"{key:<26}{mib(s['first']):>11}{mib(s['last']):>10}{mib(s['max']):>9}"
              f"{'-' if k is None else f'{k / 1024:.2f}':>13}{mib(s['last_third_growth']):>12}  "
              f"{'yes' if s['flat'] else 'NO'}")
    used = (doc.get("series") or {}).get("redis_used_memory")
    accepted = k6.get("accepted") or 0
    if used and accepted:
        per = (used["last"] - used["first"]) / accepted
        print(f"\nRedis used_memory grew {per:.1f} bytes per accepted payment "
              f"({per * doc['rate'] * 3600 / 2**20:,.0f} MiB per hour at {doc['rate']}/s)")
    print()
    for name, passed, detail in checks:
        print(f"[soak] {'PASS' if passed else 'FAIL'} {name} ({detail})", flush=True)
