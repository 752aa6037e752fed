"""Raw HTTP/1.1 over a plain socket: send exactly the bytes given, read back however many answers come.

http.client normalises what it sends (it would not send a raw byte after a `%`, a NUL in a header or two
Content-Lengths) and gives up on odd answers; the hostile suite needs to send anything and to tell an
answer, a closed connection and a hang apart. Python 3 standard library only.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

SHUT_WR = "SHUT_WR"  # a part that half-closes the connection (the client sends FIN, keeps reading)


@dataclass
class Exchange:
    """What came back for one connection's worth of requests."""

    statuses: list[int] = field(default_factory=list)
    end: str = "ok"  # ok (every answer wanted came), close, reset, timeout, raw (not HTTP), send-failed
    ms: float = 0.0  # from the last byte sent (or the failed send) to the last answer or the end
    bodies: list[bytes] = field(default_factory=list)

    def label(self) -> str:
        parts = [str(s) for s in self.statuses]
        if self.end != "ok":
            parts.append(self.end)
        return ",".join(parts) or self.end


def connect(address: tuple[str, int], timeout: float = 2.0) -> socket.socket:
    sock = socket.create_connection(address, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def send_parts(sock: socket.socket, parts: list) -> bool:
    """bytes are sent, a float is a pause in seconds, SHUT_WR half-closes. False when the peer refused more."""
    try:
        for part in parts:
            if isinstance(part, (int, float)):
                time.sleep(part)
            elif part == SHUT_WR:
                sock.shutdown(socket.SHUT_WR)
            else:
                sock.sendall(part)
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def _chunked_end(buf: bytes, start: int) -> int | None:
    """Offset just past a complete chunked body starting at `start`, or None while incomplete."""
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(buf[pos:eol].split(b";")[0].strip() or b"0", 16)
        pos = eol + 2
        if size == 0:
            end = buf.find(b"\r\n\r\n", pos - 2)  # trailers, then the empty line
            return None if end < 0 else end + 4
        if len(buf) < pos + size + 2:
            return None
        pos += size + 2


def read_answers(sock: socket.socket, want: int, deadline: float, head: bool = False) -> Exchange:
    """Read up to `want` final answers (1xx interim answers are skipped) until `deadline` (monotonic)."""
    ex = Exchange()
    buf = b""
    closed = False
    while len(ex.statuses) < want:
        head_end = buf.find(b"\r\n\r\n")
        if head_end >= 0:
            lines = buf[:head_end].split(b"\r\n")
            status_line = lines[0].split(b" ", 2)
            if not status_line[0].startswith(b"HTTP/") or len(status_line) < 2 or not status_line[1].isdigit():
                ex.end = "raw"
                return ex
            status = int(status_line[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            body_start = head_end + 4
            if 100 <= status < 200:
                buf = buf[body_start:]
                continue
            if head or status in (204, 304):
                body_end: int | None = body_start
            elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                body_end = _chunked_end(buf, body_start)
            elif b"content-length" in headers:
                n = int(headers[b"content-length"])
                body_end = body_start + n if len(buf) >= body_start + n else None
            else:
                body_end = len(buf) if closed else None  # delimited by the close
            if body_end is not None:
                ex.statuses.append(status)
                ex.bodies.append(buf[body_start:body_end])
                buf = buf[body_end:]
                continue
        if closed:
            ex.end = "raw" if buf.strip() else "close"
            return ex
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            ex.end = "timeout"
            return ex
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            ex.end = "timeout"
            return ex
        except ConnectionResetError:
            ex.end = "reset"
            return ex
        if not data:
            closed = True
        buf += data
    return ex


def exchange(address: tuple[str, int], parts: list, want: int = 1, wait_s: float = 1.5,
             head: bool = False) -> Exchange:
    """Connect, send the parts, read `want` answers for at most `wait_s` after the last byte sent."""
    try:
        sock = connect(address)
    except OSError as exc:
        return Exchange(end=f"connect failed: {exc}")
    with sock:
        sent = send_parts(sock, parts)
        t_last = time.monotonic()
        ex = read_answers(sock, want, t_last + wait_s, head=head)
        ex.ms = (time.monotonic() - t_last) * 1000
        if not sent and not ex.statuses and ex.end in ("close", "reset"):
            ex.end = "send-failed"  # the server closed while we were still sending (e.g. a 413 on a huge body)
    return ex
