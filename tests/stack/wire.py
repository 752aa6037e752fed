"""`make bench WIRE=1`: where a POST's time goes, read off the loopback wire.

k6's `http_req_duration` holds k6's own delays too: on a 2-core machine its goroutines wait for a CPU like
everything else. tcpdump records the front port, the APIs' ports and Redis's port while k6 runs (TCP links
only), and this module reads that capture back:

- a POST's *wire time*: from the packet that completes its request (the one carrying its body) to the next
  packet sent back on that connection — the stack's (or the floor's) share of what k6 measured;
- on the stack, its *hops*, tied together by the correlationId every hop carries: nginx in → API, API in →
  Redis (the intake script), Redis (to its reply on that connection), API out → nginx, nginx → client.

The capture costs CPU of its own (tcpdump runs uncapped, outside every measured group), in the run and the
floor alike; it is a diagnostic, and its runs are not compared with runs without it.
"""

from __future__ import annotations

import bisect
import collections
import re
import shutil
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from timeline import quantile

CID_IN_JSON = re.compile(rb'"correlationId"\s*:\s*"([0-9a-fA-F-]{36})"')
CID_RAW = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
FRONT_PORT = 9999
SNAPLEN = 600  # a POST, its answer and an intake script fit; longer payloads are cut, which is fine
SEGMENTS = (("nginx in → API", "c2n", "n2a"), ("API in → Redis", "n2a", "a2r"), ("Redis", "a2r", "r2a"),
            ("API out", "r2a", "a2n"), ("nginx → client", "a2n", "n2c"), ("wire total", "c2n", "n2c"))


@dataclass(frozen=True)
class Packet:
    t: float  # seconds
    sport: int
    dport: int
    payload: bytes


def packets(path: Path) -> Iterator[Packet]:
    """The TCP packets with a payload in a classic pcap file (Ethernet or Linux cooked, IPv4)."""
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            return
        magic = struct.unpack("<I", head[:4])[0]
        if magic not in (0xA1B2C3D4, 0xA1B23C4D):
            raise ValueError(f"{path}: not a little-endian pcap file (magic {magic:#x})")
        scale = 1e9 if magic == 0xA1B23C4D else 1e6
        link = struct.unpack("<I", head[20:24])[0]
        offset = {1: 14, 113: 16}.get(link)
        if offset is None:
            raise ValueError(f"{path}: link type {link} is neither Ethernet nor Linux cooked")
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            secs, frac, incl, _orig = struct.unpack("<IIII", rec)
            data = f.read(incl)
            ip = data[offset:]
            if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
                continue
            tcp = ip[(ip[0] & 15) * 4:]
            if len(tcp) < 20:
                continue
            sport, dport = struct.unpack(">HH", tcp[:4])
            payload = tcp[(tcp[12] >> 4) * 4:]
            if payload:
                yield Packet(secs + frac / scale, sport, dport, payload)


def resp_count(data: bytes) -> int:
    """How many whole RESP values `data` holds (a pipeline sends several in one packet); at least 1."""
    pos, count = 0, 0
    try:
        while pos < len(data):
            pos = _skip_value(data, pos)
            count += 1
    except (ValueError, IndexError):
        pass
    return max(count, 1)


def _skip_value(data: bytes, pos: int) -> int:
    end = data.index(b"\r\n", pos)
    kind, text = data[pos:pos + 1], data[pos + 1:end]
    pos = end + 2
    if kind in (b"+", b"-", b":", b",", b"#", b"_"):
        return pos
    if kind == b"$":
        n = int(text)
        if n < 0:
            return pos
        if pos + n + 2 > len(data):
            raise ValueError("cut")
        return pos + n + 2
    if kind in (b"*", b"%", b"~", b">"):
        n = int(text) * (2 if kind == b"%" else 1)
        for _ in range(max(n, 0)):
            pos = _skip_value(data, pos)
        return pos
    raise ValueError(f"RESP type {kind!r}")


def post_times(pkts: Iterable[Packet], front: int = FRONT_PORT) -> list[tuple[float, float]]:
    """(sent at, wire ms) of every POST on the front port: its body packet to the next packet back on
    that connection. Works for the floor too, whose answers do not carry the correlationId."""
    asked: dict[int, list[float]] = collections.defaultdict(list)
    answered: dict[int, list[float]] = collections.defaultdict(list)
    for p in pkts:
        if p.dport == front and CID_IN_JSON.search(p.payload):
            asked[p.sport].append(p.t)
        elif p.sport == front:
            answered[p.dport].append(p.t)
    out = []
    for port, times in asked.items():
        back = answered[port]
        for t in times:
            i = bisect.bisect_right(back, t)
            if i < len(back):
                out.append((t, (back[i] - t) * 1000))
    return sorted(out)


def hop_times(pkts: Iterable[Packet], api_ports: set[int], redis_port: int,
              front: int = FRONT_PORT) -> list[dict[str, float]]:
    """Per POST that went through every hop, the time (s) it crossed each: c2n, n2a, a2r, r2a, a2n, n2c."""
    seen: dict[bytes, dict[str, float]] = {}
    intake_port: dict[bytes, int] = {}  # the Redis client port that carried each POST's intake script
    # Per Redis client port: the intake requests in order (None for other commands), and reply times.
    asked: dict[int, list[tuple[float, bytes | None]]] = collections.defaultdict(list)
    replies: dict[int, list[float]] = collections.defaultdict(list)
    for p in pkts:
        if p.dport == front or p.sport == front or p.dport in api_ports or p.sport in api_ports:
            m = CID_IN_JSON.search(p.payload)
            if not m:
                continue
            hop = ("c2n" if p.dport == front else "n2c" if p.sport == front
                   else "n2a" if p.dport in api_ports else "a2n")
            marks = seen.setdefault(m.group(1).lower(), {})
            if hop in ("c2n", "n2a"):
                marks.setdefault(hop, p.t)
            else:
                marks[hop] = p.t
        elif p.dport == redis_port:
            n = resp_count(p.payload)
            cids = [c.lower() for c in CID_RAW.findall(p.payload)] if b"EVALSHA" in p.payload.upper() else []
            for i in range(n):
                cid = cids[i] if i < len(cids) and len(cids) == n else None
                asked[p.sport].append((p.t, cid))
                if cid is not None and cid in seen and "n2a" in seen[cid]:
                    seen[cid].setdefault("a2r", p.t)
                    intake_port.setdefault(cid, p.sport)
        elif p.sport == redis_port:
            replies[p.dport].extend([p.t] * resp_count(p.payload))
    for port, requests in asked.items():
        # In order, each request takes the next reply; a reply sent before its request answered one
        # that was in flight when the capture started, and is skipped.
        back, i = replies[port], 0
        for t_sent, cid in requests:
            while i < len(back) and back[i] < t_sent:
                i += 1
            if i == len(back):
                break
            if cid is not None and intake_port.get(cid) == port:
                seen[cid].setdefault("r2a", back[i])
            i += 1
    order = ("c2n", "n2a", "a2r", "r2a", "a2n", "n2c")
    out = []
    for marks in seen.values():
        if all(k in marks for k in order) and all(marks[a] <= marks[b] for a, b in zip(order, order[1:])):
            out.append({k: marks[k] for k in order})
    return out


def summarise(path: Path, api_ports: set[int], redis_port: int) -> dict:
    """What the bench keeps of a capture: wire-time quantiles, and per hop p50, p99 and its mean over the
    slowest 1 % of POSTs by wire total (where a slow POST spends its time)."""
    wire = sorted(ms for _, ms in post_times(packets(path)))  # two passes over the file: a heavy run's
    # capture is hundreds of MB, too much to hold
    out: dict = {"posts": len(wire), "wire_ms": {f"p{int(q * 100)}": quantile(wire, q) for q in (0.5, 0.9, 0.99)}}
    rows = hop_times(packets(path), api_ports, redis_port)
    out["traced"] = len(rows)
    if rows:
        rows.sort(key=lambda r: r["n2c"] - r["c2n"])
        slow = rows[-max(1, len(rows) // 100):]
        hops = {}
        for name, a, b in SEGMENTS:
            v = sorted((r[b] - r[a]) * 1000 for r in rows)
            hops[name] = {"p50": quantile(v, 0.5), "p99": quantile(v, 0.99),
                          "slowest_1pct_mean": sum((r[b] - r[a]) * 1000 for r in slow) / len(slow)}
        out["hops_ms"] = hops
    return out


class Capture:
    """tcpdump on loopback for `ports`, from start() (it is listening when start returns) to stop()."""

    def __init__(self, path: Path, ports: list[int]):
        self.path, self.ports, self.proc = path, ports, None

    def start(self) -> "Capture":
        exe = shutil.which("tcpdump") or "/usr/sbin/tcpdump"
        expr = "tcp and (" + " or ".join(f"port {p}" for p in self.ports) + ")"
        self.proc = subprocess.Popen([exe, "-i", "lo", "-s", str(SNAPLEN), "-B", "131072", "-Z", "root",
                                      "-w", str(self.path), expr],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        line = b""
        while time.monotonic() < deadline and b"listening on" not in line:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                said = self.proc.stderr.read().decode(errors="replace").strip()
                raise RuntimeError(f"tcpdump exited {self.proc.returncode} before it listened: {said}")
        if b"listening on" not in line:
            self.stop()
            raise RuntimeError("tcpdump did not start listening within 10 s")
        return self

    def stop(self) -> str:
        """Stops tcpdump (it flushes on SIGTERM) and returns its closing counts."""
        if self.proc is None:
            return ""
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.proc = None
        return err.decode(errors="replace").strip().replace("\n", "; ")
