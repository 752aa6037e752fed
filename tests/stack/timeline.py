"""A bench run second by second: what each service did, beside the POST latency of each 10-second bucket.

The bench table says how a run ended; a tail-latency spike needs its cause, and the cause is in time: which
service burned CPU or was throttled, whether the host's run queue was long, what the worker had in flight and
how long the processors took, how large the backlog was. `Sampler` records that once a second while k6 runs
(`timeline.csv`); k6 writes every request (`k6-points.csv.gz`, via K6_OUT); `report()` joins both per bucket,
beside the floor's run, into `buckets.csv`, a text table and `timeline.png` (matplotlib, when installed).

Times are seconds since the sampler started, which is when k6 was launched; stage lines are drawn from the
first POST on, which is when k6's scenarios (and its processor stages) begin after its setup.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
import threading
import time
from pathlib import Path

import cgroups
import probe

BUCKET_S = 10
POINTS = "k6-points.csv.gz"
SAMPLES = "timeline.csv"


def k6_env(out: Path) -> dict:
    """What k6 needs to write every request's duration with millisecond timestamps."""
    return {"K6_OUT": f"csv={out / POINTS}", "K6_CSV_TIME_FORMAT": "unix_milli"}


# -- sampling --------------------------------------------------------------------------------------------
def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def host_cpu_times(stat: str, ticks_per_s: int) -> dict:
    """The host's CPU time so far from /proc/stat's `cpu` line, in seconds: busy (user, nice, system, irq,
    softirq: what the cgroups do not all see) and stolen (a hypervisor running something else on our vCPUs)."""
    for line in stat.splitlines():
        f = line.split()
        if f and f[0] == "cpu" and len(f) >= 9:
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, f[1:9])
            return {"host_busy_s": (user + nice + system + irq + softirq) / ticks_per_s, "steal_s": steal / ticks_per_s}
    return {"host_busy_s": None, "steal_s": None}


def host_sample() -> dict:
    """Runnable tasks now, the CPU pressure stall total (µs, PSI) where the kernel has it, and the host's busy
    and stolen CPU seconds."""
    out = {"procs_running": None, "cpu_pressure_us": None}
    stat = _read("/proc/stat")
    for line in stat.splitlines():
        if line.startswith("procs_running"):
            out["procs_running"] = int(line.split()[1])
    out.update(host_cpu_times(stat, os.sysconf("SC_CLK_TCK")))
    for line in _read("/proc/pressure/cpu").splitlines():
        if line.startswith("some"):
            out["cpu_pressure_us"] = int(line.rsplit("total=", 1)[1])
    return out


def group_sample(dirs: list[str]) -> dict:
    """CPU seconds, throttled periods and throttled time (s) of one cgroup, v1 or v2."""
    row = cgroups.stats(dirs)
    throttled_s = None
    for d in dirs:
        kv = cgroups._read_kv(Path(d) / "cpu.stat")
        if "throttled_time" in kv:  # v1, ns
            throttled_s = kv["throttled_time"] / 1e9
        elif "throttled_usec" in kv:  # v2
            throttled_s = kv["throttled_usec"] / 1e6
    return {"cpu_s": row["cpu_seconds"], "throttled": row["nr_throttled"], "throttled_s": throttled_s}


def parse_prometheus(text: str) -> dict[str, float]:
    """`name{labels} value` lines into {"name{labels}": value}; comments and junk are skipped."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        try:
            out[key] = float(value)
        except ValueError:
            continue
    return out


def worker_sample(address: str | None) -> dict[str, float]:
    if not address:
        return {}
    try:
        status, body = probe.http_request(address, "/metrics", timeout=0.5)
    except OSError:
        return {}
    return parse_prometheus(body.decode(errors="replace")) if status == 200 else {}


class Sampler:
    """Samples the stack once a second in a thread until stopped; rows go to `timeline.csv` in `out`."""

    def __init__(self, out: Path, groups: dict[str, list[str]], services: dict[str, str], worker: str | None):
        self.out, self.groups, self.services, self.worker = out, groups, services, worker
        self.rows: list[dict] = []
        self.t0 = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @classmethod
    def for_run(cls, out: Path, state: dict, run_dir: Path) -> "Sampler":
        groups = state.get("cgroup", {}).get("groups", {})
        # Services that share a group (the emulators share k6's `load`) would be counted twice.
        services = {"load": "load"} if "load" in groups else {}
        for name, svc in state.get("services", {}).items():
            if svc["group"] not in services.values():
                services[name] = svc["group"]
        worker_sock = run_dir / "worker.sock"
        return cls(out, groups, services, f"unix:{worker_sock}" if worker_sock.exists() else None)

    def start(self) -> "Sampler":
        self.t0 = time.time()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.write()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.rows.append(self.sample())
            self._stop.wait(1.0 - (time.time() - self.t0) % 1.0)

    def sample(self) -> dict:
        row: dict = {"t": round(time.time() - self.t0, 3)}
        row.update(host_sample())
        for name, group in self.services.items():
            for key, value in group_sample(self.groups.get(group, [])).items():
                row[f"{name}.{key}"] = value
        m = worker_sample(self.worker)
        for proc in ("default", "fallback"):
            row[f"{proc}.inflight"] = m.get(f'rinha_processor_inflight{{processor="{proc}"}}')
            row[f"{proc}.call_s_sum"] = m.get(f'rinha_processor_call_duration_seconds_sum{{processor="{proc}"}}')
            row[f"{proc}.call_count"] = m.get(f'rinha_processor_call_duration_seconds_count{{processor="{proc}"}}')
        row["queue_length"] = m.get("rinha_queue_length")
        row["queue_pending"] = m.get("rinha_queue_pending")
        return row

    def write(self) -> None:
        if not self.rows:
            return
        keys = list(dict.fromkeys(k for r in self.rows for k in r))
        with open(self.out / SAMPLES, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(self.rows)
        (self.out / "timeline-meta.json").write_text(json.dumps({"t0": self.t0}) + "\n")


# -- reading ---------------------------------------------------------------------------------------------
def read_samples(run: Path) -> list[dict]:
    try:
        with open(run / SAMPLES, newline="") as f:
            return [{k: (float(v) if v not in ("", None) else None) for k, v in r.items()} for r in csv.DictReader(f)]
    except OSError:
        return []


def read_posts(run: Path) -> list[tuple[float, float, bool]]:
    """(seconds since the sampler's start, duration ms, expected response) of every POST /payments."""
    try:
        t0 = json.loads((run / "timeline-meta.json").read_text())["t0"]
        f = gzip.open(run / POINTS, "rt", newline="")
    except (OSError, ValueError, KeyError):
        return []
    out = []
    with f:
        for r in csv.DictReader(f):
            if r.get("metric_name") != "http_req_duration" or "op=post_payment" not in (r.get("extra_tags") or ""):
                continue
            ts = float(r["timestamp"])
            ts = ts / 1000 if ts > t0 * 100 else ts  # unix_milli, or seconds if the option was not honoured
            out.append((ts - t0, float(r["metric_value"]), r.get("expected_response") == "true"))
    return out


def quantile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank-interpolated quantile, as k6 computes p(99)."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def bucket_of(t: float) -> int:
    """The start (s) of the BUCKET_S bucket holding time t."""
    return int(t // BUCKET_S) * BUCKET_S


def buckets(posts: list[tuple[float, float, bool]]) -> dict[int, dict]:
    """Per BUCKET_S bucket: POSTs, failed POSTs, p50 and p99 of the successful ones (ms)."""
    by: dict[int, list[float]] = {}
    failed: dict[int, int] = {}
    for t, ms, ok in posts:
        b = bucket_of(t)
        by.setdefault(b, [])
        if ok:
            by[b].append(ms)
        else:
            failed[b] = failed.get(b, 0) + 1
    out = {}
    for b, vals in sorted(by.items()):
        vals.sort()
        out[b] = {"posts": len(vals) + failed.get(b, 0), "failed": failed.get(b, 0),
                  "p50": quantile(vals, 0.50), "p99": quantile(vals, 0.99)}
    return out


def rates(samples: list[dict], key: str) -> list[tuple[float, float | None]]:
    """(t, d key / dt) between consecutive samples: a counter turned into a per-second rate."""
    out = []
    for a, b in zip(samples, samples[1:]):
        if a.get(key) is None or b.get(key) is None or b["t"] <= a["t"]:
            out.append((b["t"], None))
        else:
            out.append((b["t"], (b[key] - a[key]) / (b["t"] - a["t"])))
    return out


def _delta(first: dict | None, last: dict | None, key: str) -> float | None:
    """How much a counter grew from sample `first` to sample `last`, if both have it."""
    if first is None or last is None or first.get(key) is None or last.get(key) is None:
        return None
    return last[key] - first[key]


def bucket_table(stack: dict[int, dict], floor: dict[int, dict], samples: list[dict], services: list[str]) -> list[dict]:
    """One row per bucket: the POST latency beside the floor's, and what each service spent in CPU and throttling."""
    rows = []
    for b, s in sorted(stack.items()):
        f = floor.get(b, {})
        row = {"bucket_s": b, "posts": s["posts"], "failed": s["failed"], "p50_ms": s["p50"], "p99_ms": s["p99"],
               "floor_p99_ms": f.get("p99"),
               "p99_over_floor": (s["p99"] / f["p99"]) if s["p99"] and f.get("p99") else None}
        inside = [r for r in samples if b <= r["t"] < b + BUCKET_S]
        first = next((r for r in reversed(samples) if r["t"] <= b), samples[0] if samples else None)
        last = inside[-1] if inside else None
        counters = [f"{name}.{key}" for name in services for key in ("cpu_s", "throttled_s", "throttled")]
        for k in counters + ["host_busy_s", "steal_s"]:
            if (d := _delta(first, last, k)) is not None:
                row[k] = d
        if (d := _delta(first, last, "cpu_pressure_us")) is not None:
            row["cpu_pressure_s"] = d / 1e6
        if inside:
            running = [r["procs_running"] for r in inside if r.get("procs_running") is not None]
            row["procs_running_max"] = max(running) if running else None
            backlog = [r["queue_length"] for r in inside if r.get("queue_length") is not None]
            row["backlog_max"] = max(backlog) if backlog else None
        rows.append(row)
    return rows


def service_names(samples: list[dict]) -> list[str]:
    return sorted({k.split(".", 1)[0] for r in samples[:1] for k in r if k.endswith(".cpu_s")})


def _f(v, digits=2) -> str:
    return "-" if v is None else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))


def render_table(rows: list[dict], services: list[str]) -> str:
    head = ["bucket", "POSTs", "p50", "p99", "floor p99", "×floor", "max runq", "stall s", "host busy s", "steal s",
            "backlog"]
    head += [f"{s} cpu/thr s" for s in services]
    lines = ["  ".join(f"{h:>12}" for h in head)]
    for r in rows:
        cells = [f"{r['bucket_s']}s", r["posts"], _f(r["p50_ms"]), _f(r["p99_ms"]), _f(r["floor_p99_ms"]),
                 _f(r["p99_over_floor"], 1), _f(r.get("procs_running_max"), 0), _f(r.get("cpu_pressure_s")),
                 _f(r.get("host_busy_s")), _f(r.get("steal_s")), _f(r.get("backlog_max"), 0)]
        cells += [f"{_f(r.get(f'{s}.cpu_s'))}/{_f(r.get(f'{s}.throttled_s'))}" for s in services]
        lines.append("  ".join(f"{str(c):>12}" for c in cells))
    return "\n".join(lines) + "\n"


def verdict(rows: list[dict], min_posts: int = 1000, max_ratio: float = 3.0) -> str:
    """The heavy-load rule: no bucket with ≥ min_posts POSTs whose p99 exceeds max_ratio × the floor's."""
    bad = [r for r in rows if r["posts"] >= min_posts and r["p99_over_floor"] and r["p99_over_floor"] > max_ratio]
    if not bad:
        return f"buckets: none of >= {min_posts} POSTs has p99 > {max_ratio:g} x floor"
    return (f"buckets: {len(bad)} of >= {min_posts} POSTs have p99 > {max_ratio:g} x floor: "
            + ", ".join(f"{r['bucket_s']}s ({r['p99_over_floor']:.1f}x)" for r in bad))


# -- the report ------------------------------------------------------------------------------------------
def report(run: Path, floor: Path | None, stages: list[dict]) -> str:
    """Join the run with its floor; write buckets.csv and timeline.png into `run`; return the text table."""
    samples = read_samples(run)
    posts = read_posts(run)
    stack_b = buckets(posts)
    floor_b = buckets(read_posts(floor)) if floor else {}
    if not stack_b:
        return "timeline: no k6 points recorded (k6-points.csv.gz missing)\n"
    services = service_names(samples)
    rows = bucket_table(stack_b, floor_b, samples, services)
    # Stages start with the scenario, after k6's setup: the first POST marks it.
    start = min(t for t, _, _ in posts)
    stages = [st | {"at_s": st["at_s"] + start} for st in stages]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(run / "buckets.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    text = render_table(rows, services) + verdict(rows) + "\n"
    text += plot(run, samples, stack_b, floor_b, stages, services) + "\n"
    return text


def _use_plot_venv() -> None:
    """matplotlib lives in its own venv (tests/tools/install-deps.sh), made by this same python3."""
    import sys

    import layout

    for site in sorted((layout.TARGET / "tools" / "plot" / "lib").glob("python*/site-packages")):
        if str(site) not in sys.path:
            sys.path.append(str(site))


def plot(run: Path, samples: list[dict], stack_b: dict, floor_b: dict, stages: list[dict], services: list[str]) -> str:
    _use_plot_venv()
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "timeline: matplotlib not installed, no timeline.png (pip install matplotlib)"
    fig, axes = plt.subplots(6, 1, figsize=(13, 17), sharex=True)
    ax = axes[0]
    xs = [b + BUCKET_S / 2 for b in stack_b]
    ax.plot(xs, [v["p99"] for v in stack_b.values()], "o-", color="crimson", label="POST p99")
    ax.plot(xs, [v["p50"] for v in stack_b.values()], "o-", color="orange", label="POST p50")
    if floor_b:
        fx = [b + BUCKET_S / 2 for b in floor_b]
        ax.plot(fx, [v["p99"] for v in floor_b.values()], "s--", color="grey", label="floor POST p99")
    ax.set_ylabel("ms")
    ax.set_title(f"{run.name}: POST latency per {BUCKET_S} s bucket")
    tw = ax.twinx()
    tw.bar(xs, [v["posts"] / BUCKET_S for v in stack_b.values()], width=BUCKET_S * 0.8, alpha=0.15, color="steelblue")
    tw.set_ylabel("POSTs/s")
    ax.legend(loc="upper left")

    for name in services:
        pts = rates(samples, f"{name}.cpu_s")
        axes[1].plot([t for t, _ in pts], [v for _, v in pts], label=name,
                     linestyle="--" if name == "load" else "-")
        thr = rates(samples, f"{name}.throttled_s")
        axes[2].plot([t for t, _ in thr], [None if v is None else v * 1000 for _, v in thr], label=name)
    axes[1].set_ylabel("CPU (cores)")
    axes[1].set_title("CPU per service (cgroup), k6 + emulators as 'load'")
    axes[1].legend(loc="upper left", ncol=4, fontsize=8)
    axes[2].set_ylabel("ms throttled / s")
    axes[2].set_title("CFS throttling per service")
    axes[2].legend(loc="upper left", ncol=4, fontsize=8)

    t = [r["t"] for r in samples]
    axes[3].plot(t, [r.get("procs_running") for r in samples], color="black", label="runnable tasks")
    stall = rates(samples, "cpu_pressure_us")
    if any(v is not None for _, v in stall):
        axes[3].plot([x for x, _ in stall], [None if v is None else v / 1e4 for _, v in stall], color="purple",
                     label="CPU pressure (% of time some task waited)")
    stolen = rates(samples, "steal_s")
    if any(v is not None for _, v in stolen):
        axes[3].plot([x for x, _ in stolen], [None if v is None else v * 100 for _, v in stolen], color="orange",
                     label="stolen by the hypervisor (% of one CPU)")
    axes[3].set_title("host: run queue, CPU pressure, stolen time")
    axes[3].legend(loc="upper left", fontsize=8)

    for proc, color in (("default", "green"), ("fallback", "red")):
        axes[4].plot(t, [r.get(f"{proc}.inflight") for r in samples], color=color, label=f"{proc} in flight")
        calls = rates(samples, f"{proc}.call_count")
        secs = rates(samples, f"{proc}.call_s_sum")
        lat = [(x, (1000 * s / c) if s is not None and c else None) for (x, c), (_, s) in zip(calls, secs)]
        axes[5].plot([x for x, _ in lat], [v for _, v in lat], color=color, label=f"{proc} mean call ms")
    axes[4].plot(t, [r.get("queue_length") for r in samples], color="blue", label="backlog (stream length)")
    axes[4].set_title("worker: calls in flight per processor, backlog")
    axes[4].legend(loc="upper left", fontsize=8)
    axes[5].set_yscale("symlog")
    axes[5].set_ylabel("ms")
    axes[5].set_title("processor call latency (mean per second)")
    axes[5].legend(loc="upper left", fontsize=8)
    axes[5].set_xlabel("seconds since k6 started")
    for a in axes:
        for st in stages:
            a.axvline(st["at_s"], color="grey", alpha=0.3, linewidth=0.8)
    for st in stages:
        axes[0].annotate(st.get("note", "")[:28], (st["at_s"], 1), xycoords=("data", "axes fraction"),
                         rotation=90, va="top", fontsize=6, color="dimgrey")
    fig.tight_layout()
    fig.savefig(run / "timeline.png", dpi=80)
    plt.close(fig)
    return f"timeline: {run / 'timeline.png'}"
