"""Per-service CPU and memory caps from nix/caps.json, and the budget rule: the reference implementation.

nix/caps.json is the one source every deployment reads: the native runner (this module), the compose
generator (tests/nix/compose.py imports this module), the NixOS module and the images (through
nix/caps.nix). The budget rule lives here (`violations`); nix/caps.nix implements the same rule in Nix
because the NixOS module cannot run Python, and tests/nix/caps-drift.py fails when the two disagree
on caps.json or on any of its broken variants, or when a rendering (systemd values, compose limits)
differs from the ones below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CAPS_FILE = Path(__file__).resolve().parents[2] / "nix" / "caps.json"

# The contest's limits for everything together (../shared/spec/rinha-2025.md).
CONTEST = {"cpu_millicores": 1500, "memory_mib": 350}
# Services every deployment runs; `migrate` is the oneshot that applies the migrations.
REQUIRED = ("nginx", "api1", "api2", "worker", "redis", "postgres", "migrate")


DEFAULT_CPU_WEIGHT = 100


def cpu_shares(weight: int) -> int:
    return weight * 1024 // 100


@dataclass(frozen=True)
class Cap:
    """One service's limits: CPU in millicores (1000 = one core) and memory in MiB."""

    cpu_millicores: int
    memory_mib: int
    extra: dict
    # systemd's CPUWeight scale (1..10000, 100 = the default): the share a service gets when CPUs are
    # contended, as opposed to its cap, which binds even when they are idle.
    cpu_weight: int = DEFAULT_CPU_WEIGHT

    @property
    def cpu_shares(self) -> int:
        """The weight on cgroup v1's and compose's scale (1024 = the default)."""
        return cpu_shares(self.cpu_weight)

    @property
    def memory_bytes(self) -> int:
        return self.memory_mib * 1024 * 1024


def _positive(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def violations(doc: dict) -> list[str]:
    """The budget rule: codes for everything caps.json breaks, sorted ([] when it is fine).

    Every entry has positive integer cpu_millicores/memory_mib, CPU in whole percent of a core (what
    systemd's CPUQuota can express), and a cpu_weight (if any) that systemd's CPUWeight accepts (1..10000); every entry summed, the oneshot migrate included (as a judge adding
    up the compose limits would), stays within the budget; the budget within the contest's limits; Redis'
    maxmemory below its memory cap (AOF rewrites and client buffers need the rest).
    """
    services, budget = doc.get("services", {}), doc.get("budget", {})
    out = []
    for name, c in services.items():
        cpu, mem = c.get("cpu_millicores"), c.get("memory_mib")
        if not (_positive(cpu) and _positive(mem)):
            out.append(f"not_positive:{name}")
        if isinstance(cpu, int) and cpu % 10:
            out.append(f"cpu_not_multiple_of_10:{name}")
        weight = c.get("cpu_weight", DEFAULT_CPU_WEIGHT)
        if not (_positive(weight) and weight <= 10000):
            out.append(f"cpu_weight_out_of_range:{name}")
    out += [f"missing:{name}" for name in REQUIRED if name not in services]
    total = totals(doc)
    if total["cpu_millicores"] > budget.get("cpu_millicores", 0):
        out.append("cpu_over_budget")
    if total["memory_mib"] > budget.get("memory_mib", 0):
        out.append("memory_over_budget")
    if budget.get("cpu_millicores", 0) > CONTEST["cpu_millicores"] or budget.get("memory_mib", 0) > CONTEST["memory_mib"]:
        out.append("budget_over_contest")
    redis = services.get("redis", {})
    if not 0 < redis.get("maxmemory_mib", 0) < redis.get("memory_mib", 0):
        out.append("redis_maxmemory_not_below_cap")
    return sorted(out)


def totals(doc: dict) -> dict:
    services = doc.get("services", {}).values()
    return {field: sum(c.get(field, 0) for c in services if isinstance(c.get(field), int))
            for field in ("cpu_millicores", "memory_mib")}


def systemd_values(cap: dict) -> dict:
    """A caps entry as systemd's CPUQuota (percent of one CPU) / MemoryMax (base-1024 M) / no swap / CPUWeight."""
    return {"CPUQuota": f"{cap['cpu_millicores'] // 10}%", "MemoryMax": f"{cap['memory_mib']}M", "MemorySwapMax": "0",
            "CPUWeight": str(cap.get("cpu_weight", DEFAULT_CPU_WEIGHT))}


def compose_limits(cap: dict) -> dict:
    """A caps entry as compose's deploy.resources.limits (cpus as a decimal string, memory in M)."""
    m = cap["cpu_millicores"]
    cpus = str(m // 1000) if m % 1000 == 0 else f"{m / 1000:.3f}".rstrip("0").rstrip(".")
    return {"cpus": cpus, "memory": f"{cap['memory_mib']}M"}


def redis_maxmemory(doc: dict) -> str:
    """Redis' maxmemory directive (its "mb" is MiB)."""
    return f"{doc['services']['redis']['maxmemory_mib']}mb"


def read(path: Path = CAPS_FILE) -> dict:
    return json.loads(path.read_text())


def load(path: Path = CAPS_FILE) -> dict[str, Cap]:
    """Caps by service name; fails loudly if the file breaks the budget rule, since every run would lie."""
    doc = read(path)
    broken = violations(doc)
    if broken:
        raise SystemExit(f"{path}: caps break the budget rule: {', '.join(broken)} (totals {totals(doc)}, "
                         f"budget {doc.get('budget')})")
    caps = {}
    for name, spec in doc["services"].items():
        extra = {k: v for k, v in spec.items() if k not in ("cpu_millicores", "memory_mib", "cpu_weight")}
        caps[name] = Cap(int(spec["cpu_millicores"]), int(spec["memory_mib"]), extra,
                         int(spec.get("cpu_weight", DEFAULT_CPU_WEIGHT)))
    return caps
