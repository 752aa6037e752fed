"""Tiny readiness probes: HTTP over TCP or a unix socket, Redis PING, PostgreSQL startup handshake.

Written against raw sockets so the runner needs no client binaries (the embedded PostgreSQL build ships
no psql or pg_isready) and no third-party Python packages.
"""

from __future__ import annotations

import http.client
import socket
import struct


class _UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over an AF_UNIX socket: the API instances and the worker listen on sockets in the run dir."""

    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def http_request(address: str, path: str, method: str = "GET", body: bytes | None = None,
                 headers: dict | None = None, timeout: float = 2.0) -> tuple[int, bytes]:
    """One request to `unix:/path.sock` or `host:port`; returns (status, body). Raises OSError when unreachable."""
    if address.startswith("unix:"):
        conn: http.client.HTTPConnection = _UnixHTTPConnection(address[5:], timeout)
    else:
        host, _, port = address.rpartition(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    except http.client.HTTPException as exc:
        raise OSError(str(exc)) from exc
    finally:
        conn.close()


def http_ok(address: str, path: str, headers: dict | None = None) -> bool:
    """True when GET answers 200."""
    try:
        return http_request(address, path, headers=headers)[0] == 200
    except OSError:
        return False


def redis_ping(sock_path: str) -> bool:
    """True when Redis answers PING with PONG (it answers LOADING errors while replaying the AOF)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(sock_path)
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def postgres_ready(sock_dir: str, user: str, database: str, port: int = 5432) -> bool:
    """True when PostgreSQL accepts a session: a v3 StartupMessage answered with an Authentication message.

    While starting up or recovering the server answers an ErrorResponse ('E') instead. Trust auth is
    what `initdb --auth=trust` on a socket-only server gives, so 'R' means a session would start.
    """
    params = f"user\0{user}\0database\0{database}\0\0".encode()
    msg = struct.pack("!ii", 8 + len(params), 196608) + params
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(f"{sock_dir}/.s.PGSQL.{port}")
            sock.sendall(msg)
            first = sock.recv(1)
            sock.sendall(b"X\0\0\0\x04")  # Terminate
            return first == b"R"
    except OSError:
        return False


def port_busy(port: int) -> bool:
    """True when something listens on the port or it cannot be bound (on any address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False
