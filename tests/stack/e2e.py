"""The end-to-end part of `make test`: the real stack, capped, under a shortened published schedule.

`make up` with emulators and purge, k6 with TIME_SCALE≈0.5 (≈30 s) and MAX_REQUESTS≈150, then the
assertions issue 3 lists, then `make down` and a check that nothing (process, cgroup, port) is left.
Results in target/e2e/<UTC time>/ (same files as a bench run).
"""

from __future__ import annotations

import os
import shutil
import time

import control
import k6run
import layout


def checks(row: dict) -> list[tuple[str, bool, str]]:
    """(name, passed, detail) for every assertion about one run."""
    x, o = row.get("extra", {}), row.get("official", {})
    default_n = o.get("pagamentos_realizados_default", {}).get("num_pagamentos")
    fallback_n = o.get("pagamentos_realizados_fallback", {}).get("num_pagamentos")
    lag = o.get("lag", {}).get("lag", x.get("lag"))
    restarts = {name: s.get("restarts") for name, s in row.get("services", {}).items() if s.get("restarts")}
    return [
        ("k6 produced score.json", bool(row.get("ok")), f"exit {row.get('rc')}"),
        ("inconsistencies = 0", x.get("inconsistencies") == 0, f"{x.get('inconsistencies')}"),
        ("≥ 2 audits covered a non-empty window", (x.get("audits_nonempty") or 0) >= 2,
         f"{x.get('audits_nonempty')}/{x.get('audits_total')}"),
        ("default processor received payments", (default_n or 0) > 0, f"{default_n}"),
        # The default's outage in this schedule is shorter than the settlement delay: waiting it out
        # is cheaper than the fallback's fee (README, "The settlement delay's rule").
        ("fallback took ≤ 1 % of payments (the default's outage is waited out)",
         fallback_n is not None and fallback_n * 100 <= (default_n or 0) + fallback_n,
         f"{fallback_n} of {(default_n or 0) + (fallback_n or 0)}"),
        ("no POST failed", x.get("posts_failed") == 0 and (x.get("posts_ok") or 0) > 0,
         f"{x.get('posts_failed')} failed of {(x.get('posts_ok') or 0) + (x.get('posts_failed') or 0)}"),
        ("lag ≥ 0", isinstance(lag, int) and lag >= 0, f"{lag}"),
        ("lag_drained = 0", row.get("lag_drained") == 0, f"{row.get('lag_drained')}"),
        ("no service restarted", not restarts, f"{restarts or 'none'}"),
    ]


def main() -> int:
    # The Makefile exports these even when unset (as empty strings): empty means "not given".
    for key, value in (("TIME_SCALE", "0.5"), ("MAX_REQUESTS", "150")):
        if not os.environ.get(key):
            os.environ[key] = value
    sched = os.environ.get("SCHEDULE") or "published"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = layout.TARGET / "e2e" / stamp
    row: dict = {}
    try:
        run_dir = control.up(emulators=True, purge=True, fees=k6run.schedule(sched)["fees"])
    except control.UpError as exc:
        print(f"[e2e] FAIL make up: {exc}", flush=True)
        return 1
    try:
        res = k6run.run(out, "e2e")
        row = {"ok": res.ok, "rc": res.rc, "official": res.official, "extra": res.extra}
        if res.ok:
            row["lag_drained"], secs = k6run.lag_drained(int(res.extra.get("posts_ok") or 0))
        row["services"] = control.service_stats(run_dir)
    finally:
        shutil.copytree(run_dir / "logs", out / "logs", dirs_exist_ok=True)
        problems = control.down()
    results = checks(row)
    left = control.leftovers()
    results.append(("make down left no process, cgroup or port", not problems and not left,
                    "; ".join(problems + left) or "clean"))
    for name, passed, detail in results:
        print(f"[e2e] {'PASS' if passed else 'FAIL'} {name} ({detail})", flush=True)
    failed = [name for name, passed, _ in results if not passed]
    print(f"[e2e] {len(results) - len(failed)} passed, {len(failed)} failed; results in {out}", flush=True)
    return 1 if failed else 0
