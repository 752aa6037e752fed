#!/usr/bin/env python3
"""One source per deployment fact: every rendering must agree with it (offline; needs nix-instantiate).

Sources: nix/caps.json (caps and budget), the budget rule in tests/stack/caps.py (the reference
implementation), nix/settings.json (PostgreSQL and Redis settings), nginx/nginx.conf.template (nginx).
Renderings checked against them:
  * nix/caps.nix: the same budget verdict (violation codes) and totals as the reference, on caps.json
    and on seven broken variants of it (each variant must break the rule: a negative control that the
    rule is exercised), and the same systemd values (CPUQuota/MemoryMax/MemorySwapMax, the slice);
  * nix/module.nix, evaluated with a stub lib (tests/nix/module-eval.nix): every unit in rinha.slice
    has the caps of its entry (rinha-migrate its own), the slice has the budget, the module's budget
    assertion agrees with the reference on every variant, PostgreSQL/Redis get settings.json;
  * tests/nix/compose.py: each service's compose limits are the reference rendering of its entry;
  * the native runner (tests/stack/services.py): postgres and redis argv carry settings.json;
  * the images (nix/image-spec.nix): PostgreSQL's arguments and redis.conf carry settings.json;
  * nix/nginx.nix: renders nginx/nginx.conf.template: with the native stack's parameters, line for
    line what tests/stack/services.py renders, but for its documented differences; the NixOS variant
    only lacks the lines the NixOS module writes itself; and an edit of the template (a negative
    control on a copy) shows up in the Nix rendering.
Prints PASS/FAIL; exit 1 on any FAIL.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "stack"))
sys.path.insert(0, str(ROOT / "tests" / "nix"))
import caps as reference  # noqa: E402
import compose  # noqa: E402
import services  # noqa: E402

failed = 0


def report(ok: bool, what: str) -> None:
    global failed
    print(("PASS " if ok else "FAIL ") + what)
    failed += not ok


def nix_eval(*args: str) -> object:
    out = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", *args],
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip()[-500:])
    return json.loads(out.stdout)


def caps_nix(doc: dict, attr: str) -> object:
    return nix_eval("-E", f"(import ./nix/caps.nix (builtins.fromJSON ''{json.dumps(doc)}'')).{attr}")


def module(doc: dict) -> dict:
    return nix_eval("tests/nix/module-eval.nix", "--argstr", "capsJson", json.dumps(doc))


def variants(doc: dict) -> dict[str, dict]:
    """Broken caps files, each breaking one part of the rule."""
    def change(edit):
        d = copy.deepcopy(doc)
        edit(d)
        return d
    s = "services"
    return {
        "worker +100m over the CPU budget": change(lambda d: d[s]["worker"].update(
            cpu_millicores=d[s]["worker"]["cpu_millicores"] + 100)),
        "postgres +50 MiB over the memory budget": change(lambda d: d[s]["postgres"].update(
            memory_mib=d[s]["postgres"]["memory_mib"] + 50)),
        "budget above the contest's": change(lambda d: d["budget"].update(cpu_millicores=1600)),
        "api1 at 205m (no whole percent)": change(lambda d: d[s]["api1"].update(cpu_millicores=205)),
        "no migrate entry": change(lambda d: d[s].pop("migrate")),
        "redis maxmemory = its cap": change(lambda d: d[s]["redis"].update(maxmemory_mib=d[s]["redis"]["memory_mib"])),
        "nginx memory 0": change(lambda d: d[s]["nginx"].update(memory_mib=0)),
        "worker cpu_weight 0": change(lambda d: d[s]["worker"].update(cpu_weight=0)),
    }


def check_caps(doc: dict) -> None:
    ref = reference.violations(doc)
    report(ref == [], f"reference rule (tests/stack/caps.py): nix/caps.json passes ({reference.totals(doc)} "
                      f"within {doc['budget']})")
    got = sorted(caps_nix(doc, "violations"))
    report(got == ref and caps_nix(doc, "total") == reference.totals(doc),
           f"caps.nix: same verdict and totals as the reference on caps.json ({got})")
    units = caps_nix(doc, "units")
    want = {n: reference.systemd_values(c) for n, c in doc["services"].items()}
    report(units == want, f"caps.nix: systemd values of all {len(want)} entries equal the reference's")
    report(caps_nix(doc, "slice") == reference.systemd_values(doc["budget"]),
           f"caps.nix: rinha.slice = the budget ({reference.systemd_values(doc['budget'])})")
    report(caps_nix(doc, "redisMaxmemory") == reference.redis_maxmemory(doc),
           f"caps.nix: redis maxmemory {reference.redis_maxmemory(doc)}")
    for what, bad in variants(doc).items():
        ref = reference.violations(bad)
        got = sorted(caps_nix(bad, "violations"))
        try:
            mod = module(bad)["assertions"]
            refused = not all(mod)
        except RuntimeError as err:  # a value systemd could not express: the module throws
            mod = f"evaluation refused: {str(err).splitlines()[-1].strip()}"
            refused = True
        report(ref != [] and got == ref and refused,
               f"budget rule, variant '{what}': reference {ref}, caps.nix {got}, module assertions {mod}")


def check_module(doc: dict, settings: dict) -> None:
    out = module(doc)
    report(all(out["assertions"]), f"module.nix: assertions hold on caps.json ({out['assertions']})")
    names = {"nginx": "nginx", "postgresql": "postgres", "redis-rinha": "redis", "rinha-migrate": "migrate"}
    in_slice = {u: c for u, c in out["units"].items() if c.get("Slice") == "rinha.slice"}
    # postgresql-setup (nixpkgs' ensureUsers/ensureDatabases oneshot) runs before anything of ours,
    # for about a second, inside the slice's cap.
    uncapped_ok = {"postgresql-setup"}
    for unit, cfg in sorted(in_slice.items()):
        if unit in uncapped_ok:
            continue
        name = names.get(unit, unit.removeprefix("rinha-"))
        entry = doc["services"].get(name)
        got = {k: cfg.get(k) for k in ("CPUQuota", "CPUWeight", "MemoryMax", "MemorySwapMax")}
        report(entry is not None and got == reference.systemd_values(entry),
               f"module.nix: {unit} has the caps of entry '{name}' ({got})")
    report({"rinha-migrate", "rinha-worker", "rinha-api1", "rinha-api2", "nginx", "postgresql", "redis-rinha"}
           <= in_slice.keys(), f"module.nix: every unit of the stack is in rinha.slice ({len(in_slice)} units)")
    report(out["slice"] == reference.systemd_values(doc["budget"]), f"module.nix: rinha.slice = {out['slice']}")
    report(out["postgres"] == settings["postgres"], "module.nix: services.postgresql.settings = settings.json postgres")
    r = out["redis"]
    rendered = {**r["settings"], "appendonly": "yes" if r["appendOnly"] else "no", "appendfsync": r["appendFsync"],
                "save": "" if r["save"] == [] else r["save"]}
    want = {**settings["redis"], "maxmemory": reference.redis_maxmemory(doc)}
    report(rendered == want, f"module.nix: redis gets settings.json + maxmemory ({rendered})")


def check_compose(doc: dict) -> None:
    generated = compose.generate(doc, compose.load(compose.IMAGES))["services"]
    for name, svc in generated.items():
        got = svc["deploy"]["resources"]["limits"]
        entry = doc["services"].get(name)
        report(entry is not None and got == reference.compose_limits(entry)
               and svc.get("cpu_shares") == reference.cpu_shares(entry.get("cpu_weight", reference.DEFAULT_CPU_WEIGHT)),
               f"compose.py: {name} limits {got}, cpu_shares {svc.get('cpu_shares')} are its caps entry's")


def check_native(doc: dict, settings: dict) -> None:
    opts = services.Options(run_dir="/run-dir", mode="stack", emulators=False, purge=False, keep_state=False,
                            user={}, tools={"pg_bindir": "/pg", "redis": "redis-server", "nginx": "nginx",
                                            "rinha": "rinha", "processor": "payment-processor"},
                            service_env={}, redis_maxmemory_mib=doc["services"]["redis"]["maxmemory_mib"])
    pg = services.postgres_argv(opts)
    pairs = {pg[i + 1] for i, a in enumerate(pg) if a == "-c"}
    missing = [f"{k}={v}" for k, v in settings["postgres"].items() if f"{k}={v}" not in pairs]
    report(not missing, f"native runner: postgres argv carries settings.json ({len(settings['postgres'])} settings)"
                        + (f"; missing {missing}" if missing else ""))
    rd = services.redis_argv(opts)
    want = {**settings["redis"], "maxmemory": reference.redis_maxmemory(doc)}
    missing = [k for k, v in want.items() if f"--{k}" not in rd or rd[rd.index(f"--{k}") + 1] != str(v)]
    report(not missing, "native runner: redis argv carries settings.json + maxmemory"
                        + (f"; missing {missing}" if missing else ""))
    caps_keys = {c for c in services.groups(opts).values() if c}
    report(caps_keys <= doc["services"].keys(), f"native runner: its cgroups' caps keys exist ({sorted(caps_keys)})")


def check_images(doc: dict, settings: dict) -> None:
    names = "rinha busybox nss nginx redis bash coreutils postgresql".split()
    store = " ".join(f'{n} = "/nix/store/{n}";' for n in names)
    spec = nix_eval("-E", f"""
      let spec = import ./nix/image-spec.nix {{
            caps = builtins.fromJSON ''{json.dumps(doc)}''; store = {{ {store} }};
            generated = builtins.mapAttrs (n: _: "/nix/store/generated/${{n}}") spec.files; }};
      in {{ cmd = spec.images.postgres.cmd; redis = spec.files."redis.conf".text; }}""")
    cmd = spec["cmd"]
    pairs = {cmd[i + 1] for i, a in enumerate(cmd) if a == "-c"}
    missing = [f"{k}={v}" for k, v in settings["postgres"].items() if f"{k}={v}" not in pairs]
    report(not missing, "images: the PostgreSQL image's arguments carry settings.json"
                        + (f"; missing {missing}" if missing else ""))
    lines = set(spec["redis"].splitlines())
    want = {**settings["redis"], "maxmemory": reference.redis_maxmemory(doc)}
    missing = [k for k, v in want.items() if f"{k} {v if v != '' else chr(34) * 2}" not in lines]
    report(not missing, "images: redis.conf carries settings.json + maxmemory" + (f"; missing {missing}" if missing else ""))


def nginx_nix(root: Path, run_dir: str, upstreams: list[str]) -> dict:
    args = "[ " + " ".join(json.dumps(u) for u in upstreams) + " ]"
    out = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", "-E",
                          f"import ./nix/nginx.nix {{ upstreams = {args}; runDir = {json.dumps(run_dir)}; }}"],
                         cwd=root, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip()[-500:])
    return json.loads(out.stdout)


def directives(text: str) -> list[str]:
    """Config lines without comments and blank lines, whitespace-normalised."""
    out = []
    for line in text.splitlines():
        line = re.sub(r"\s+", " ", line.split("#", 1)[0] if not line.strip().startswith("return") else line).strip()
        if line:
            out.append(line)
    return out


def check_nginx() -> None:
    rd = "/run-dir"
    template = (ROOT / "nginx" / "nginx.conf.template").read_text()
    native = template.replace("@RUN_DIR@", rd).replace("@USER_DIRECTIVE@", "")
    rendered = nginx_nix(ROOT, rd, [f"unix:{rd}/api1.sock", f"unix:{rd}/api2.sock"])
    # The documented differences: errors to stderr instead of the run dir's log file.
    expected = [re.sub(r"^error_log \S+", "error_log stderr", line) for line in directives(native)]
    got = directives(rendered["full"])
    diff = [f"-{a} +{b}" for a, b in zip(expected, got) if a != b][:3]
    report(got == expected, f"nginx.nix: with the native parameters, the template line for line ({len(got)} "
                            f"directives)" + (f"; differs: {diff or 'in length'}" if got != expected else ""))
    module = directives(rendered["module"])
    owned = [line for line in got if re.match(r"(pid|error_log|daemon) ", line)]
    report(module == [line for line in got if line not in owned] and len(owned) == 3,
           f"nginx.nix: the NixOS variant only leaves out {owned}")
    image = directives(nginx_nix(ROOT, "/tmp", ["api1:8080", "api2:8080"])["full"])
    params = re.search(r"server unix:@RUN_DIR@/api1\.sock([^;]*);", template).group(1)
    report([f"server api1:8080{params};", f"server api2:8080{params};"] == [x for x in image if x.startswith("server ") and not x.endswith("{")]
           and not any("unix:" in x for x in image),
           f"nginx.nix: the image's upstreams are api1:8080 and api2:8080, with the template's parameters ({params.strip()})")
    # Negative control: an edit of the template (on a copy) must reach the Nix rendering.
    with tempfile.TemporaryDirectory() as tmp:
        copy_root = Path(tmp)
        (copy_root / "nix").mkdir()
        (copy_root / "nginx").mkdir()
        shutil.copy(ROOT / "nix" / "nginx.nix", copy_root / "nix")
        marker = "proxy_read_timeout 30s;" if "proxy_read_timeout 30s;" in template else "keepalive_timeout 65s;"
        (copy_root / "nginx" / "nginx.conf.template").write_text(template.replace(marker, "send_timeout 7s;\n" + marker, 1))
        edited = directives(nginx_nix(copy_root, rd, [f"unix:{rd}/api1.sock"])["full"])
        report("send_timeout 7s;" in edited, "nginx.nix: negative control: a line added to the template appears in "
                                             "the Nix rendering")


def main() -> int:
    doc = reference.read()
    settings = json.loads((ROOT / "nix" / "settings.json").read_text())
    for check in (lambda: check_caps(doc), lambda: check_module(doc, settings), lambda: check_compose(doc),
                  lambda: check_native(doc, settings), lambda: check_images(doc, settings), check_nginx):
        try:
            check()
        except RuntimeError as err:
            report(False, f"evaluation failed: {err}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
