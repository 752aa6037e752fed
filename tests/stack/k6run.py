"""Running the offline official scenario (k6/rinha.js) against whatever is up, and reading its results.

One place knows how k6 is invoked (env, dashboard export, the measured `load` cgroup) so that the bench,
the floor and the end-to-end test run exactly the same script the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cgroups
import control
import layout
import probe
import services

K6_DIR = layout.REPO / "k6"
BACKEND = "127.0.0.1:9999"  # an IPv4 literal: nginx listens on 0.0.0.0 only, `localhost` may mean ::1
DRAIN_TIMEOUT_S = 60.0
DRAIN_STABLE_S = 15.0


def schedule_path(name: str | None) -> Path:
    """SCHEDULE is a name in k6/schedules or a path (relative to k6/, as rinha.js resolves it)."""
    name = name or "published"
    cand = Path(name)
    if cand.suffix != ".json":
        cand = K6_DIR / "schedules" / f"{name}.json"
    elif not cand.is_absolute():
        cand = K6_DIR / cand if (K6_DIR / cand).exists() else Path.cwd() / cand
    return cand


def schedule(name: str | None) -> dict:
    return json.loads(schedule_path(name).read_text())


def expected_seconds(sched: dict, time_scale: float) -> float:
    """How long a run takes: the scaled ramp plus setup/teardown slack, for progress and timeouts."""
    return sched["ramp"]["duration_s"] * time_scale + 5


@dataclass
class K6Result:
    ok: bool  # score.json was written
    rc: int
    official: dict
    extra: dict
    out: Path


def run(out: Path, label: str, env_extra: dict | None = None) -> K6Result:
    """Run k6 once into `out` (score.json, k6-extra.json, report.html, k6.log), inside the `load` cgroup."""
    k6 = layout.k6_bin()
    if not k6:
        raise control.UpError("k6 not found (K6_BIN, target/tools/k6/bin/k6 or PATH): run tests/tools/install-deps.sh")
    out.mkdir(parents=True, exist_ok=True)
    sched_name = os.environ.get("SCHEDULE") or "published"
    time_scale = float(os.environ.get("TIME_SCALE") or 1)
    env = dict(os.environ)
    env.update({
        "SCHEDULE": str(schedule_path(sched_name)),
        "BACKEND_URL": f"http://{BACKEND}",
        "PROCESSOR_DEFAULT_URL": "http://127.0.0.1:8001",
        "PROCESSOR_FALLBACK_URL": "http://127.0.0.1:8002",
        "TOKEN": os.environ.get("TOKEN", "123"),
        "RESULT_DIR": str(out),
        "K6_WEB_DASHBOARD": "true",
        "K6_WEB_DASHBOARD_PORT": "-1",
        "K6_WEB_DASHBOARD_EXPORT": str(out / "report.html"),
        "K6_NO_USAGE_REPORT": "true",
    })
    if time_scale * schedule(sched_name)["ramp"]["duration_s"] < 45:
        env["K6_WEB_DASHBOARD_PERIOD"] = "1s"  # else k6 skips the report of a short run
    run_dir = layout.recorded_run_dir()
    if run_dir and (run_dir / "stack.json").exists() and not env.get("PURGE_TOKEN"):
        env["PURGE_TOKEN"] = services.Options.load(run_dir).purge_token  # setup's POST /purge-payments
    env.update(env_extra or {})
    expected = expected_seconds(schedule(sched_name), time_scale)
    state = control.read_state(layout.recorded_run_dir() or layout.run_dir()) or {}
    load_dirs = state.get("cgroup", {}).get("groups", {}).get("load", [])
    print(f"[k6] {label}: schedule {sched_name}, MAX_REQUESTS={env.get('MAX_REQUESTS', 'default')}, "
          f"TIME_SCALE={time_scale:g}, ~{expected:.0f} s → {out}", flush=True)
    start = time.monotonic()
    with open(out / "k6.log", "wb") as log:
        proc = subprocess.Popen([k6, "run", "--no-color", str(K6_DIR / "rinha.js")], env=env, cwd=K6_DIR,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=(lambda: cgroups.join(load_dirs)) if load_dirs else None)
        next_tick = 10.0
        while proc.poll() is None:
            time.sleep(0.5)
            elapsed = time.monotonic() - start
            if elapsed >= next_tick:
                print(f"[k6] {label}: {elapsed:4.0f} s / ~{expected:.0f} s", flush=True)
                next_tick += 10
            if elapsed > expected * 3 + 120:
                proc.kill()
    result = read_result(out, proc.returncode)
    line = next((ln for ln in (out / "k6.log").read_text(errors="replace").splitlines() if ln.startswith("RESULT ")), None)
    print(f"[k6] {label}: done in {time.monotonic() - start:.0f} s (exit {proc.returncode}) {line or ''}", flush=True)
    for ln in (out / "k6.log").read_text(errors="replace").splitlines():
        if ln.startswith("WARNING"):
            print(f"[k6] {label}: {ln}", flush=True)
    if not result.ok:
        print(f"[k6] {label}: no score.json; last lines of {out / 'k6.log'}:", file=sys.stderr)
        for ln in (out / "k6.log").read_text(errors="replace").splitlines()[-30:]:
            print(f"  {ln}", file=sys.stderr)
    return result


def read_result(out: Path, rc: int) -> K6Result:
    try:
        official = json.loads((out / "score.json").read_text())
        extra = json.loads((out / "k6-extra.json").read_text())
        return K6Result(True, rc, official, extra, out)
    except (FileNotFoundError, json.JSONDecodeError):
        return K6Result(False, rc, {}, {}, out)


def booked_total() -> int | None:
    """Payments in the backend's all-time summary (default + fallback)."""
    try:
        status, body = probe.http_request(BACKEND, "/payments-summary", timeout=3)
        doc = json.loads(body)
        return int(doc["default"]["totalRequests"]) + int(doc["fallback"]["totalRequests"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def lag_drained(posts_ok: int) -> tuple[int | None, float]:
    """accepted − booked once the queue has drained: poll the all-time summary until it reaches the
    accepted count, stops moving for DRAIN_STABLE_S, or DRAIN_TIMEOUT_S passes. Returns (lag, seconds)."""
    start = time.monotonic()
    last, last_change = None, start
    while True:
        booked = booked_total()
        now = time.monotonic()
        if booked != last:
            last, last_change = booked, now
        if booked is not None and booked >= posts_ok:
            break
        if now - start > DRAIN_TIMEOUT_S or (booked is not None and now - last_change > DRAIN_STABLE_S):
            break
        time.sleep(0.5)
    return (None if last is None else posts_ok - last), time.monotonic() - start
