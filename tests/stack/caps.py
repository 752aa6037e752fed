"""Per-service CPU and memory caps, read from nix/caps.json (the one source every deployment reads)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from layout import CAPS_FILE


@dataclass(frozen=True)
class Cap:
    """One service's limits: CPU in millicores (1000 = one core) and memory in MiB."""

    cpu_millicores: int
    memory_mib: int
    extra: dict

    @property
    def memory_bytes(self) -> int:
        return self.memory_mib * 1024 * 1024


def load(path: Path = CAPS_FILE) -> dict[str, Cap]:
    """Caps by service name; fails loudly if the file breaks the contest budget, since every run would lie."""
    doc = json.loads(path.read_text())
    caps = {}
    for name, spec in doc["services"].items():
        extra = {k: v for k, v in spec.items() if k not in ("cpu_millicores", "memory_mib")}
        caps[name] = Cap(int(spec["cpu_millicores"]), int(spec["memory_mib"]), extra)
    budget = doc.get("budget", {})
    cpu = sum(c.cpu_millicores for c in caps.values())
    mem = sum(c.memory_mib for c in caps.values())
    if cpu > budget.get("cpu_millicores", 1500) or mem > budget.get("memory_mib", 350):
        raise SystemExit(f"{path}: caps sum to {cpu} millicores / {mem} MiB, above the budget {budget}")
    return caps
