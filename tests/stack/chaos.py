"""`make chaos` (and, with --short, a step of `make test`): fault plans against the real binaries.

Each plan: a fresh stack with the emulators (`up`, purge on) → steady POSTs at RATE/s for the plan's
load time, with one fault injected while they run (or as they stop) → drain (the stream empty and both
books unchanged for STABLE_S) → the truth → `down`.

The truth is the processors', per payment: every id we sent (except those refused with a 4xx) is looked
up with `GET /payments/{id}` at both emulators.
- lost: answered 202 and stored at neither processor;
- AOF window: the same, for a payment whose 202 came between the point the AOF was cut back to and
  Redis's death (the `redis-aof-cut` plan only: AOF `everysec` may lose what was acknowledged in the last second before a
  host crash; those payments are counted here, not as lost);
- double: stored at both processors (charged twice), whatever its POST got back;
- mismatches: per processor, |our all-time summary − the emulator's admin summary| in payments (and 1
  more where the counts agree but the money does not).
- stuck: entries still in the stream when the drain ended (it waits up to DRAIN_TIMEOUT_S).
A plan passes with 0 lost, 0 double, 0 mismatches and 0 stuck.

Why a Python load generator rather than k6: the truth needs every id we sent and when its 202 came.
Why the supervisor is paused around the AOF cut: it restarts a killed Redis within 0.2 s, before the
file could be cut.

    stack.py chaos [--short] [--only TEXT]       # RATE (default 150) from the environment
Results in target/chaos/<UTC time>/: chaos.json, and each plan's logs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import control
import layout
import memory
import probe
import services
import soak

ADDRESS = ("127.0.0.1", 9999)
THREADS = 16
POST_TIMEOUT_S = 1.5
AMOUNT = "19.90"
STABLE_S = 3.0
DRAIN_TIMEOUT_S = 120.0
STREAM = "rinha:payments"
# The worker's defaults (src/config.rs): reclaim_idle = 2 × processor_timeout_ms.
PROCESSOR_TIMEOUT_MS = 10_000
RECLAIM_IDLE_S = 2 * PROCESSOR_TIMEOUT_MS / 1000
AOF_CUT_S = 1.0


def say(msg: str) -> None:
    print(f"[chaos] {msg}", flush=True)


# -- load --------------------------------------------------------------------------------------------------
@dataclass
class Sent:
    cid: str
    status: int  # 0: no answer within POST_TIMEOUT_S or the connection failed
    answered: float  # monotonic time the answer (or the failure) came


class Load:
    """POSTs at `rate`/s from THREADS keep-alive connections until stopped; every id and its answer kept."""

    def __init__(self, rate: int):
        self.rate = rate
        self.sent: list[Sent] = []
        self.skipped = 0  # slots a thread was too late for (the backend held it longer than a slot)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(THREADS)]
        self.t0 = 0.0

    def start(self) -> "Load":
        self.t0 = time.monotonic()
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def _run(self, index: int) -> None:
        period = THREADS / self.rate
        due = self.t0 + index / self.rate
        conn = None
        while not self._stop.is_set():
            now = time.monotonic()
            if now < due:
                self._stop.wait(due - now)
                continue
            behind = int((now - due) / period)
            if behind:
                self.skipped += behind
                due += behind * period
            due += period
            cid = str(uuid.uuid4())
            body = f'{{"correlationId":"{cid}","amount":{AMOUNT}}}'
            status = 0
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(*ADDRESS, timeout=POST_TIMEOUT_S)
                conn.request("POST", "/payments", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                status = resp.status
                if resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
            self.sent.append(Sent(cid, status, time.monotonic()))
        if conn is not None:
            conn.close()


# -- the truth ---------------------------------------------------------------------------------------------
def stored_ids(ids: list[str]) -> dict[str, set[str]]:
    """processor → the ids among `ids` it stored (GET /payments/{id} → 200), over keep-alive connections."""
    out: dict[str, set[str]] = {}
    for _, addr, which in services.EMULATORS:
        host, _, port = addr.rpartition(":")
        found: set[str] = set()
        chunks = [ids[i::4] for i in range(4)]

        def look(chunk: list[str]) -> None:
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
            for cid in chunk:
                for _ in range(3):
                    try:
                        conn.request("GET", f"/payments/{cid}")
                        resp = conn.getresponse()
                        resp.read()
                        if resp.status == 200:
                            found.add(cid)
                        break
                    except (OSError, http.client.HTTPException):
                        conn.close()
                        conn = http.client.HTTPConnection(host, int(port), timeout=5)
            conn.close()

        threads = [threading.Thread(target=look, args=(c,)) for c in chunks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out[which] = found
    return out


def stream_length(run_dir: Path) -> int | None:
    try:
        return int(memory.redis_command(str(run_dir / "redis.sock"), "XLEN", STREAM).lstrip(b":"))
    except (OSError, ValueError):
        return None


def drain(run_dir: Path) -> float:
    """Until the stream is empty and neither book moved for STABLE_S (or DRAIN_TIMEOUT_S); the seconds taken."""
    start = time.monotonic()
    last, since = None, start
    while time.monotonic() - start < DRAIN_TIMEOUT_S:
        key = json.dumps([soak.our_summary(), soak.stored_summary()])
        now = time.monotonic()
        if key != last:
            last, since = key, now
        if stream_length(run_dir) == 0 and now - since >= STABLE_S and "null" not in key:
            break
        time.sleep(0.5)
    return time.monotonic() - start


# -- faults ------------------------------------------------------------------------------------------------
@dataclass
class Fault:
    """What a fault needs: the run dir, the load (for its clock), and what it noted (e.g. the AOF cut)."""

    run_dir: Path
    load: Load
    notes: dict = field(default_factory=dict)

    def pid(self, name: str) -> int:
        pid = ((control.read_state(self.run_dir) or {}).get("services", {}).get(name) or {}).get("pid")
        if not pid:
            raise RuntimeError(f"{name} has no pid in the supervisor's state")
        return pid

    def kill(self, name: str) -> None:
        pid = self.pid(name)
        os.kill(pid, signal.SIGKILL)
        self.notes.setdefault("killed", []).append(f"{name} {pid}")
        say(f"  kill -9 {name} ({pid})")

    def wait_ready(self, name: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            svc = (control.read_state(self.run_dir) or {}).get("services", {}).get(name) or {}
            if svc.get("ready") and svc.get("pid"):
                return
            time.sleep(0.2)


def tree(root: int) -> list[int]:
    """`root` and its descendants (PostgreSQL's backends are the postmaster's children)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            ppid = int(text[text.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def pause(pids: list[int], seconds: float) -> None:
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def set_delay(which: str, ms: int) -> None:
    addr = next(a for _, a, w in services.EMULATORS if w == which)
    probe.http_request(addr, "/admin/configurations/delay", method="PUT", body=json.dumps({"delay": ms}).encode(),
                       headers={"X-Rinha-Token": services.EMULATOR_TOKEN, "Content-Type": "application/json"})


def aof_file(run_dir: Path) -> Path:
    """The AOF file Redis appends to now: the last incr file of Redis 7's multi-part AOF (or the single file)."""
    incr = sorted((run_dir / "redis").glob("appendonlydir/*.incr.aof"),
                  key=lambda p: int(p.name.split(".")[-3]))
    if incr:
        return incr[-1]
    return run_dir / "redis" / "appendonly.aof"


class AofWatch:
    """Samples the AOF's size every 20 ms, so the cut can go back to where the file was AOF_CUT_S earlier."""

    def __init__(self, run_dir: Path):
        self.path = aof_file(run_dir)
        self.sizes: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sizes.append((time.monotonic(), self.path.stat().st_size))
            except OSError:
                pass
            self._stop.wait(0.02)

    def size_at(self, t: float) -> tuple[float, int]:
        """The last sample at or before t: (its time, the size)."""
        self._stop.set()
        self._thread.join()
        return max((s for s in self.sizes if s[0] <= t), default=(t, 0))


def kill_worker(f: Fault) -> None:
    f.kill("worker")


def kill_api(f: Fault) -> None:
    f.kill("api1")


def kill_redis(f: Fault) -> None:
    f.kill("redis")


def kill_postgres(f: Fault) -> None:
    f.kill("postgres")


def redis_aof_cut(f: Fault) -> None:
    """A host crash's loss, played on the process: Redis dies and its AOF loses the last AOF_CUT_S of writes."""
    watch = f.notes.pop("aof_watch")
    supervisor = control.supervisor_pid(f.run_dir)
    os.kill(supervisor, signal.SIGSTOP)
    try:
        f.kill("redis")
        t_kill = time.monotonic()
        t_cut, size = watch.size_at(t_kill - AOF_CUT_S)
        full = watch.path.stat().st_size
        os.truncate(watch.path, size)
        f.notes.update(aof_window=(t_cut, t_kill), aof_file=watch.path.name, aof_bytes_cut=full - size)
        say(f"  cut {full - size:,} bytes off {watch.path.name} (back to {t_kill - t_cut:.2f} s before the kill)")
    finally:
        os.kill(supervisor, signal.SIGCONT)


def redis_stopped(f: Fault) -> None:
    """Redis unreachable longer than reclaim_idle: every held entry looks idle to everyone afterwards."""
    seconds = RECLAIM_IDLE_S + 3
    say(f"  SIGSTOP redis for {seconds:.0f} s (reclaim_idle {RECLAIM_IDLE_S:.0f} s)")
    pause([f.pid("redis")], seconds)


def postgres_stopped(f: Fault) -> None:
    pids = tree(f.pid("postgres"))
    say(f"  SIGSTOP postgres ({len(pids)} processes) for 10 s")
    pause(pids, 10.0)


def processor_hangs(f: Fault) -> None:
    """The default processor's delay above the client's timeout for a while, then back to none."""
    delay = PROCESSOR_TIMEOUT_MS + 1_000
    say(f"  default processor delay {delay} ms (> processor_timeout {PROCESSOR_TIMEOUT_MS} ms) for 12 s")
    set_delay("default", delay)
    try:
        time.sleep(12)
    finally:
        set_delay("default", 0)


def slow_processors(f: Fault) -> None:
    """Before the load: every call takes 1 s, so ~150 payments are mid-call when the fault comes."""
    for which in ("default", "fallback"):
        set_delay(which, 1_000)


def kill_worker_mid_drain(f: Fault) -> None:
    """worker2 stays dead (its supervisor paused) until the survivor must have reclaimed its entries."""
    supervisor = control.supervisor_pid(f.run_dir)
    os.kill(supervisor, signal.SIGSTOP)
    try:
        f.kill("worker2")
        for which in ("default", "fallback"):
            set_delay(which, 0)
        say(f"  worker2 stays dead for {RECLAIM_IDLE_S + 5:.0f} s (reclaim_idle {RECLAIM_IDLE_S:.0f} s)")
        time.sleep(RECLAIM_IDLE_S + 5)
    finally:
        os.kill(supervisor, signal.SIGCONT)


@dataclass
class Plan:
    name: str
    fault: Callable[[Fault], None]
    what: str
    fault_at: float | None = 6.0  # seconds into the load; None: as the load stops
    load_s: float = 20.0
    workers: int = 1
    short: bool = False  # part of `make test`'s short version
    before: Callable[[Fault], None] | None = None


PLANS = [
    Plan("kill-worker", kill_worker, "kill -9 of the worker", short=True),
    Plan("kill-api", kill_api, "kill -9 of one API instance"),
    Plan("kill-redis", kill_redis, "kill -9 of Redis (AOF everysec, nothing cut)", short=True),
    Plan("kill-postgres", kill_postgres, "kill -9 of the PostgreSQL postmaster"),
    Plan("redis-aof-cut", redis_aof_cut, f"Redis killed, the last {AOF_CUT_S:g} s of its AOF cut off"),
    Plan("redis-stopped-2-workers", redis_stopped, "two workers, 1 s calls; Redis SIGSTOPped longer than "
         "reclaim_idle", workers=2, load_s=35.0, before=slow_processors),
    Plan("processor-hangs", processor_hangs, "default processor slower than the client timeout, then recovers",
         load_s=25.0),
    Plan("postgres-stopped", postgres_stopped, "PostgreSQL (every process) SIGSTOPped for 10 s"),
    Plan("kill-worker-mid-drain", kill_worker_mid_drain, "two workers, 1 s calls; one killed as the load stops",
         fault_at=None, workers=2, load_s=10.0, before=slow_processors),
]


# -- running a plan ----------------------------------------------------------------------------------------
def run_plan(plan: Plan, rate: int, out: Path) -> dict:
    say(f"{plan.name}: {plan.what} ({rate}/s for {plan.load_s:g} s, {plan.workers} worker(s))")
    run_dir = control.up(emulators=True, purge=True, workers=plan.workers)
    doc: dict = {"plan": plan.name, "what": plan.what}
    try:
        state = control.read_state(run_dir) or {}
        restarts_before = {n: s.get("restarts") for n, s in state.get("services", {}).items()}
        load = Load(rate)
        fault = Fault(run_dir, load)
        if plan.before:
            plan.before(fault)
        if plan.name == "redis-aof-cut":
            fault.notes["aof_watch"] = AofWatch(run_dir)
        load.start()
        error = None
        try:
            if plan.fault_at is not None:
                time.sleep(plan.fault_at)
                plan.fault(fault)
            time.sleep(max(0.0, load.t0 + plan.load_s - time.monotonic()))
        except (OSError, RuntimeError, StopIteration) as exc:
            error = f"the fault failed: {exc}"
        finally:
            load.stop()
        if plan.fault_at is None and error is None:
            try:
                plan.fault(fault)
            except (OSError, RuntimeError) as exc:
                error = f"the fault failed: {exc}"
        drain_s = drain(run_dir)
        stuck = stream_length(run_dir)
        state = control.read_state(run_dir) or {}
        restarts = {n: s.get("restarts") for n, s in state.get("services", {}).items()
                    if s.get("restarts") != restarts_before.get(n)}
        checked = [s.cid for s in load.sent if not 400 <= s.status < 500]
        doc |= judge(load.sent, stored_ids(checked), fault.notes.get("aof_window"), soak.our_summary(),
                     soak.stored_summary())
        doc["skipped_slots"] = load.skipped
        if stuck:
            doc["verdict"] = "FAIL"
        doc |= {"drain_s": round(drain_s, 1), "stuck": stuck, "restarts": restarts, "error": error,
                "notes": {k: v for k, v in fault.notes.items() if k != "aof_window"}}
        if error:
            doc["verdict"] = "ERROR"
    finally:
        shutil.copytree(run_dir / "logs", out / plan.name / "logs", dirs_exist_ok=True)
        control.down(quiet=True)
    say(f"{plan.name}: {doc['verdict']} — accepted {doc['accepted']}, lost {doc['lost']}, AOF window "
        f"{doc['aof_window']}, double {doc['double']}, mismatches {doc['mismatches']} (drain {doc['drain_s']} s)")
    return doc


def judge(sent: list[Sent], at: dict[str, set[str]], window: tuple[float, float] | None, ours: dict | None,
          stored: dict | None) -> dict:
    """The counts of one plan from what was sent, the ids each processor stored, the AOF window (the aof
    plan: from the moment the file was cut back to, to Redis's death) and both summaries
    ({processor: (payments, cents)})."""

    def in_window(s: Sent) -> bool:
        return window is not None and window[0] <= s.answered <= window[1]

    accepted = [s for s in sent if s.status == 202]
    anywhere = at["default"] | at["fallback"]
    double = at["default"] & at["fallback"]
    missing = [s for s in accepted if s.cid not in anywhere]
    lost_in_window = [s for s in missing if in_window(s)]
    mismatches = None
    if ours and stored:
        mismatches = 0
        for p in ("default", "fallback"):
            diff = abs(ours[p][0] - stored[p][0])
            mismatches += diff or int(ours[p][1] != stored[p][1])
    lost = len(missing) - len(lost_in_window)
    ok = lost == 0 and not double and mismatches == 0
    return {
        "sent": len(sent), "accepted": len(accepted), "no_answer": sum(1 for s in sent if s.status == 0),
        "failed_5xx": sum(1 for s in sent if s.status >= 500),
        "refused_4xx": sum(1 for s in sent if 400 <= s.status < 500), "lost": lost, "aof_window": len(lost_in_window),
        "aof_window_accepted": sum(1 for s in accepted if in_window(s)),
        "double": len(double), "mismatches": mismatches, "ours": ours, "stored": stored,
        "lost_ids": [s.cid for s in missing if not in_window(s)][:20], "double_ids": sorted(double)[:20],
        "verdict": "PASS" if ok else "FAIL",
    }


def print_table(docs: list[dict]) -> None:
    print(f"\n{'plan':<26}{'accepted':>9}{'lost':>6}{'AOF-window':>11}{'double':>7}{'mismatches':>11}"
          f"{'stuck':>6}  verdict")
    for d in docs:
        window = f"{d['aof_window']}/{d['aof_window_accepted']}" if d.get("aof_window_accepted") else "-"
        mism = "?" if d.get("mismatches") is None else d["mismatches"]
        print(f"{d['plan']:<26}{d.get('accepted', 0):>9}{d.get('lost', '?'):>6}{window:>11}{d.get('double', '?'):>7}"
              f"{mism:>11}{d.get('stuck', '?'):>6}  {d.get('verdict')}")
    print("(AOF-window: lost / accepted in the cut-off second; stuck: entries left in the stream after the "
          f"drain, ≤ {DRAIN_TIMEOUT_S:.0f} s)", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="stack.py chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="only the plans of make test's short version")
    parser.add_argument("--only", action="append", default=[], help="plans whose name contains TEXT")
    args = parser.parse_args(argv)
    rate = int(os.environ.get("RATE") or 150)
    plans = [p for p in PLANS if (not args.short or p.short) and (not args.only or any(t in p.name for t in args.only))]
    out = layout.TARGET / "chaos" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out.mkdir(parents=True)
    say(f"{len(plans)} plan(s) at {rate}/s → {out}")
    docs = []
    for plan in plans:
        try:
            docs.append(run_plan(plan, rate, out))
        except control.UpError as exc:
            say(f"{plan.name}: the stack did not come up: {exc}")
            docs.append({"plan": plan.name, "verdict": "ERROR", "error": str(exc)})
        (out / "chaos.json").write_text(json.dumps(docs, indent=2, default=str) + "\n")
    print_table(docs)
    say(f"results in {out}")
    return 0 if all(d.get("verdict") == "PASS" for d in docs) else 1
