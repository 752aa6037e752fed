"""`make hostile` (and a step of `make test`): hostile requests over raw sockets against the stack on :9999.

The rule, for every case (each sent twice, so that nginx's round robin hands it to both APIs):
- an answer with a status below 500 within ANSWER_S of the request's last byte, and in the case's
  allowed set when it has one (e.g. 404 for /metrics through :9999, 400 for a bad query); 501 for an
  unknown transfer coding and 505 for an unsupported HTTP version count as below 500 (the standard's
  own answers to them, where the case allows them);
- or, for garbage (a case marked close_ok: not HTTP, a body nginx refuses, a half-closed request), the
  connection closed (FIN or RST) within ANSWER_S;
- anything else fails: a 5xx, no answer within ANSWER_S (a hang: we wait WAIT_S to see it), a 2xx where a
  refusal is due, or a closed connection for a well-formed request.
Held cases keep many stalled connections open (slow headers, stalled bodies, idle sockets) and pass when a
valid POST on a fresh connection meanwhile gets 202 within ANSWER_S.

Afterwards: VALID_POSTS valid POSTs on four keep-alive connections, each 202 within ANSWER_S; every API
answers its readiness probe on its own socket within ANSWER_S (a wedged instance nginx happens not to route
to is still caught); no service restarted (the supervisor's count and the API pids); and once the queue has
drained the all-time summary holds between `sure` and `sure + maybe` payments, where `sure` counts the
202s we saw and `maybe` the valid payments whose answer never came (a 4xx must change nothing).

    stack.py hostile [--running] [--only TEXT] [--skip TEXT]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

import control
import layout
import probe
import services
from rawhttp import SHUT_WR, Exchange, connect, exchange, read_answers, send_parts

ADDRESS = ("127.0.0.1", 9999)
ANSWER_S = 1.0  # every answer within this
WAIT_S = 1.5  # how long we wait before calling it a hang
VALID_POSTS = 200
HELD_CONNECTIONS = 50
DRAIN_TIMEOUT_S = 30.0
ANY = None  # any status below 500


# -- building requests ---------------------------------------------------------------------------------------
def payment(amount: str = "19.90", cid: str | None = None) -> bytes:
    """A payment body with a fresh id; `amount` is the JSON number's text as sent."""
    return f'{{"correlationId":"{cid or uuid.uuid4()}","amount":{amount}}}'.encode()


def request(method: str, target: bytes | str, body: bytes | None = None, headers: list[bytes] | None = None,
            ctype: bytes | None = b"application/json", version: bytes = b"HTTP/1.1") -> bytes:
    """One request's bytes; Content-Length is added for a body unless the headers carry their own framing."""
    target = target.encode() if isinstance(target, str) else target
    lines = [method.encode() + b" " + target + b" " + version, b"Host: localhost:9999"]
    extra = list(headers or [])
    framed = any(h.lower().startswith((b"content-length", b"transfer-encoding")) for h in extra)
    if body is not None:
        if ctype is not None:
            lines.append(b"Content-Type: " + ctype)
        if not framed:
            lines.append(b"Content-Length: " + str(len(body)).encode())
    lines += extra
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def post(body: bytes, **kw) -> bytes:
    return request("POST", "/payments", body, **kw)


def get(target: bytes | str, **kw) -> bytes:
    return request("GET", target, **kw)


def chunked(body: bytes, size: int) -> bytes:
    out = b""
    for i in range(0, len(body), size):
        piece = body[i:i + size]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def trickle(data: bytes, pieces: int, seconds: float) -> list:
    """The bytes cut into `pieces` with equal pauses between them, spread over `seconds`."""
    step = max(1, -(-len(data) // pieces))
    parts: list = []
    for i in range(0, len(data), step):
        if parts:
            parts.append(seconds / pieces)
        parts.append(data[i:i + step])
    return parts


POST_HEAD = b"POST /payments HTTP/1.1\r\nHost: localhost:9999\r\nContent-Type: application/json\r\n"
BODY_LEN = len(payment())  # every payment() body has this length (a UUID is always 36 characters)
CL = b"Content-Length: %d\r\n" % BODY_LEN
SUMMARY = "/payments-summary?from=2020-01-01T00:00:00.000Z&to=2020-01-01T00:00:01.000Z"


# -- cases ---------------------------------------------------------------------------------------------------
@dataclass
class Case:
    """One hostile request (or several on one connection). `parts` builds fresh bytes for each attempt."""

    group: str
    name: str
    parts: Callable[[], list]
    expect: set[int] | None = ANY
    close_ok: bool = False
    want: int = 1  # answers expected on the connection (pipelining)
    posts: int = 0  # valid new payments it carries: for the count check
    head: bool = False
    repeat: int = 2


@dataclass
class Held:
    """Many connections stalled in some state while a valid POST must still get 202."""

    group: str
    name: str
    opener: Callable[[], list]
    count: int = HELD_CONNECTIONS
    hold_s: float = 1.2  # past the enqueue deadline, so stalled handlers are in their worst state
    repeat: int = 1


def cases() -> list:
    p = payment
    big_header = b"X-Big: " + b"a" * 16_000
    nested = b"[" * 2000 + b"]" * 2000
    out: list = [
        # Exposure first: a successful purge would wipe an empty ledger only, so the count check still holds.
        Case("exposure", "POST /purge-payments, no token", lambda: [request("POST", "/purge-payments", b"")],
             {401, 403, 404}),
        Case("exposure", "POST /purge-payments, wrong token",
             lambda: [request("POST", "/purge-payments", b"", headers=[b"X-Purge-Token: wrong"])], {401, 403, 404}),
        Case("exposure", "GET /metrics via :9999", lambda: [get("/metrics")], {403, 404}),
        Case("exposure", "GET /healthz via :9999", lambda: [get("/healthz")], {403, 404}),
        Case("exposure", "GET /%6detrics (encoded)", lambda: [get("/%6detrics")], {400, 403, 404}),
        Case("exposure", "GET //metrics", lambda: [get("//metrics")], {400, 403, 404}),
        Case("exposure", "GET /payments/../healthz", lambda: [get("/payments/../healthz")], {400, 403, 404}),
        Case("exposure", "GET /metrics?x=1", lambda: [get("/metrics?x=1")], {403, 404}),
        # Not HTTP at all.
        Case("protocol", "binary garbage", lambda: [bytes(range(256)) * 2], close_ok=True),
        Case("protocol", "TLS ClientHello", lambda: [bytes.fromhex("16030100a5010000a10303") + bytes(160)],
             close_ok=True),
        Case("protocol", "HTTP/2 preface", lambda: [b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"], close_ok=True),
        Case("protocol", "HTTP/0.9 GET", lambda: [b"GET /payments-summary\r\n"], close_ok=True),
        Case("protocol", "HTTP/9.9", lambda: [get(SUMMARY, version=b"HTTP/9.9")], {400, 505}, close_ok=True),
        Case("protocol", "no Host (HTTP/1.1)",
             lambda: [b"GET /payments-summary HTTP/1.1\r\n\r\n"], {400}, close_ok=True),
        Case("protocol", "two Host headers", lambda: [get(SUMMARY, headers=[b"Host: other"])], {400},
             close_ok=True),
        Case("protocol", "header without colon", lambda: [get(SUMMARY, headers=[b"NoColonHere"])], {200, 400},
             close_ok=True),
        Case("protocol", "NUL in a header", lambda: [get(SUMMARY, headers=[b"X-A: a\x00b"])], {400},
             close_ok=True),
        Case("protocol", "LF-only line ends", lambda: [get(SUMMARY).replace(b"\r\n", b"\n")]),
        Case("protocol", "request line 20 KB", lambda: [get("/payments-summary?x=" + "a" * 20_000)],
             {400, 414}, close_ok=True),
        Case("protocol", "header 16 KB", lambda: [get(SUMMARY, headers=[big_header])], {400, 431},
             close_ok=True),
        Case("protocol", "200 headers", lambda: [get(SUMMARY, headers=[b"X-H%d: v" % i for i in range(200)])]),
        Case("protocol", "absolute-form target", lambda: [get("http://evil.example" + SUMMARY)], {200, 400}),
        Case("protocol", "absolute-form, other port", lambda: [get("http://127.0.0.1:1/payments-summary")],
             {200, 400}),
        Case("protocol", "Content-Length and chunked",
             lambda: [post(chunked(p(), 8), headers=[b"Content-Length: 5", b"Transfer-Encoding: chunked"])],
             {202, 400}, close_ok=True, posts=1),
        Case("protocol", "two Content-Lengths",
             lambda: [post(p(), headers=[b"Content-Length: 10", b"Content-Length: 70"])], {400}, close_ok=True),
        Case("protocol", "negative Content-Length", lambda: [post(p(), headers=[b"Content-Length: -1"])],
             {400}, close_ok=True),
        Case("protocol", "Expect: 100-continue", lambda: [post(p(), headers=[b"Expect: 100-continue"])], {202},
             posts=1),
        # Methods.
        Case("method", "TRACE /", lambda: [request("TRACE", "/")], close_ok=True),
        Case("method", "PUT /payments", lambda: [request("PUT", "/payments", p())], {405}),
        Case("method", "PATCH /payments", lambda: [request("PATCH", "/payments", p())], {405}),
        Case("method", "DELETE /payments-summary", lambda: [request("DELETE", "/payments-summary")], {405}),
        Case("method", "OPTIONS /payments", lambda: [request("OPTIONS", "/payments")], {204, 405}),
        Case("method", "OPTIONS *", lambda: [request("OPTIONS", "*")], close_ok=True),
        Case("method", "CONNECT host:port", lambda: [request("CONNECT", "127.0.0.1:9999")], close_ok=True),
        Case("method", "HEAD /payments-summary", lambda: [request("HEAD", SUMMARY)], {200, 405}, head=True),
        Case("method", "garbage method F@O", lambda: [request("F@O", "/payments")], {400}, close_ok=True),
        Case("method", "lowercase get", lambda: [request("get", SUMMARY)], {400}, close_ok=True),
        Case("method", "unknown method PROPFIND", lambda: [request("PROPFIND", "/payments")], {400, 405}),
        # JSON shape.
        Case("json", "empty body", lambda: [post(b"")], {400}),
        Case("json", "body null", lambda: [post(b"null")], {400}),
        Case("json", "body an array", lambda: [post(b"[" + p() + b"]")], {400}),
        Case("json", "2000-deep array", lambda: [post(nested)], {400}),
        Case("json", "1000-deep array as amount",
             lambda: [post(b'{"correlationId":"%s","amount":%s}' % (str(uuid.uuid4()).encode(),
                                                                    b"[" * 1000 + b"]" * 1000))], {400}),
        Case("json", "600-deep objects", lambda: [post(b'{"a":' * 600 + b"1" + b"}" * 600)], {400}),
        Case("json", "body 5000 B", lambda: [post(p()[:-1] + b',"pad":"' + b"x" * 4900 + b'"}')], {413},
             close_ok=True),
        Case("json", "body 1 MiB", lambda: [post(b"x" * 2**20)], {413}, close_ok=True),
        Case("json", "body exactly 4096 B", lambda: [post(p().ljust(4096))], {202, 413}, posts=1),
        Case("json", "unknown field 3 KB", lambda: [post(p()[:-1] + b',"x":"' + b"y" * 3000 + b'"}')], {202},
             posts=1),
        Case("json", "invalid UTF-8 in a string",
             lambda: [post(b'{"correlationId":"\xff\xfe","amount":19.90}')], {400, 422}),
        Case("json", "lone surrogate escape",
             lambda: [post(b'{"correlationId":"\\ud800","amount":19.90}')], {400, 422}),
        Case("json", "NUL escape in the id",
             lambda: [post(b'{"correlationId":"\\u0000","amount":19.90}')], {400, 422}),
        Case("json", "UTF-8 BOM first", lambda: [post(b"\xef\xbb\xbf" + p())], {202, 400}, posts=1),
        Case("json", "duplicate keys", lambda: [post(b'{"correlationId":"%s","correlationId":"%s","amount":1}'
                                                      % (str(uuid.uuid4()).encode(), str(uuid.uuid4()).encode()))],
             {202, 400, 422}, posts=1),
        Case("json", "trailing garbage", lambda: [post(p() + b"xyz")], {400}),
        Case("json", "two objects", lambda: [post(p() + p())], {400}),
        Case("json", "comment inside", lambda: [post(b"/*c*/" + p())], {400}),
        Case("json", "id null", lambda: [post(b'{"correlationId":null,"amount":19.90}')], {400}),
        Case("json", "id a number", lambda: [post(b'{"correlationId":12345,"amount":19.90}')], {400}),
        Case("json", "amount a string", lambda: [post(p('"19.90"'))], {400}),
        Case("json", "amount true", lambda: [post(p("true"))], {400}),
        Case("json", "no amount", lambda: [post(b'{"correlationId":"%s"}' % str(uuid.uuid4()).encode())], {400}),
        Case("json", "no id", lambda: [post(b'{"amount":19.90}')], {400}),
        # Odd numbers.
        Case("number", "1e400", lambda: [post(p("1e400"))], {400, 422}),
        Case("number", "-0", lambda: [post(p("-0"))], {400, 422}),
        Case("number", "0", lambda: [post(p("0"))], {400, 422}),
        Case("number", "0.001", lambda: [post(p("0.001"))], {400, 422}),
        Case("number", "-19.90", lambda: [post(p("-19.90"))], {400, 422}),
        Case("number", "1e2", lambda: [post(p("1e2"))], {202, 400, 422}, posts=1),
        Case("number", "1E-2", lambda: [post(p("1E-2"))], {202, 400, 422}, posts=1),
        Case("number", "0.1e1", lambda: [post(p("0.1e1"))], {202, 400, 422}, posts=1),
        Case("number", "1.5e-300", lambda: [post(p("1.5e-300"))], {400, 422}),
        Case("number", "NaN", lambda: [post(p("NaN"))], {400}),
        Case("number", "Infinity", lambda: [post(p("Infinity"))], {400}),
        Case("number", "-Infinity", lambda: [post(p("-Infinity"))], {400}),
        Case("number", "+19.90", lambda: [post(p("+19.90"))], {400}),
        Case("number", "0x10", lambda: [post(p("0x10"))], {400}),
        Case("number", "leading zeros 019.90", lambda: [post(p("019.90"))], {400, 422}),
        Case("number", "huge integer 10^40", lambda: [post(p("1" + "0" * 40))], {400, 422}),
        Case("number", "1000-digit integer", lambda: [post(p("9" * 1000))], {400, 422}),
        Case("number", "1000000000.01", lambda: [post(p("1000000000.01"))], {422}),
        Case("number", "19.9 + 30 trailing zeros", lambda: [post(p("19.9" + "0" * 30))], {202}, posts=1),
        Case("number", "19.9 + 30 digits", lambda: [post(p("19.9" + "0" * 29 + "1"))], {400, 422}),
        # Content types.
        Case("ctype", "no Content-Type", lambda: [post(p(), ctype=None)], {202}, posts=1),
        Case("ctype", "text/plain", lambda: [post(p(), ctype=b"text/plain")], {415}),
        Case("ctype", "form-urlencoded", lambda: [post(b"correlationId=x&amount=1",
                                                       ctype=b"application/x-www-form-urlencoded")], {415}),
        Case("ctype", "multipart", lambda: [post(p(), ctype=b"multipart/form-data; boundary=x")], {415}),
        Case("ctype", "json; charset=utf-8", lambda: [post(p(), ctype=b"application/json; charset=utf-8")],
             {202}, posts=1),
        Case("ctype", "APPLICATION/JSON", lambda: [post(p(), ctype=b"APPLICATION/JSON")], {202}, posts=1),
        Case("ctype", "bytes 0xff in Content-Type", lambda: [post(p(), ctype=b"\xff\xfe")], {400, 415},
             close_ok=True),
        # Chunked bodies.
        Case("chunked", "chunked payment", lambda: [post(chunked(p(), 16), headers=[b"Transfer-Encoding: chunked"])],
             {202}, posts=1),
        Case("chunked", "1-byte chunks", lambda: [post(chunked(p(), 1), headers=[b"Transfer-Encoding: chunked"])],
             {202}, posts=1),
        Case("chunked", "chunk extensions",
             lambda: [post(chunked(p(), 16).replace(b"\r\n", b";ext=1\r\n", 1),
                           headers=[b"Transfer-Encoding: chunked"])], {202, 400}, posts=1),
        Case("chunked", "bad chunk size zz",
             lambda: [post(b"zz\r\n" + p() + b"\r\n0\r\n\r\n", headers=[b"Transfer-Encoding: chunked"])], {400},
             close_ok=True),
        Case("chunked", "chunked over 4 KiB",
             lambda: [post(chunked(p()[:-1] + b',"x":"' + b"y" * 6000 + b'"}', 1000),
                           headers=[b"Transfer-Encoding: chunked"])], {413}, close_ok=True),
        Case("chunked", "no last chunk, half-close",
             lambda: [post(chunked(p(), 16)[:-5], headers=[b"Transfer-Encoding: chunked"]), SHUT_WR],
             {400}, close_ok=True),
        Case("chunked", "Transfer-Encoding: gzip", lambda: [post(p(), headers=[b"Transfer-Encoding: gzip"])],
             {400, 411, 501}, close_ok=True),  # 501: the standard's answer to an unknown transfer coding
        # Slow senders (bounded).
        Case("slow", "headers over 2 s", lambda: trickle(get(SUMMARY), 20, 2.0), {200}),
        Case("slow", "body over 0.6 s", lambda: [POST_HEAD + CL + b"\r\n",
                                                 *trickle(p(), 6, 0.6)], {202}, posts=1),
        Case("slow", "body over 2 s (past the enqueue deadline)",
             lambda: [POST_HEAD + CL + b"\r\n", *trickle(p(), 10, 2.0)], {202, 408}, posts=1),
        Held("slow", "held: half a request line", lambda: [b"GET /payments-sum"]),
        Held("slow", "held: headers, no blank line", lambda: [POST_HEAD + CL]),
        Held("slow", "held: body 10 of 71 bytes", lambda: [POST_HEAD + CL + b"\r\n" + p()[:10]]),
        Held("slow", "held: chunked, no last chunk",
             lambda: [post(chunked(p(), 16)[:-5], headers=[b"Transfer-Encoding: chunked"])]),
        Held("slow", "held: connected, nothing sent", lambda: []),
        # Half-closed connections.
        Case("half-close", "POST complete, then FIN", lambda: [post(p()), SHUT_WR], {202}, close_ok=True, posts=1),
        Case("half-close", "GET complete, then FIN", lambda: [get(SUMMARY), SHUT_WR], {200}, close_ok=True),
        Case("half-close", "headers only, then FIN", lambda: [POST_HEAD + CL + b"\r\n", SHUT_WR],
             {400}, close_ok=True),
        Case("half-close", "half a body, then FIN",
             lambda: [POST_HEAD + CL + b"\r\n" + p()[:30], SHUT_WR], {400}, close_ok=True),
        Case("half-close", "half the headers, then FIN", lambda: [b"GET /payments-summary HTTP/1.1\r\nHo", SHUT_WR],
             {400}, close_ok=True),
        # Pipelining.
        Case("pipeline", "GET, POST, GET", lambda: [get(SUMMARY) + post(p()) + get(SUMMARY)], {200, 202}, want=3,
             posts=1),
        Case("pipeline", "10 POSTs", lambda: [b"".join(post(p()) for _ in range(10))], {202}, want=10, posts=10),
        Case("pipeline", "GET, garbage, GET", lambda: [get(SUMMARY) + b"F@O / HTTP/1.1\r\n\r\n" + get(SUMMARY)],
             {200, 400}, want=3, close_ok=True),
        Case("pipeline", "short Content-Length bleeds",
             lambda: [POST_HEAD + b"Content-Length: 20\r\n\r\n" + p() + get(SUMMARY)], {200, 400}, want=2,
             close_ok=True),
        # Query strings and paths (the summary's decoder: raw UTF-8 after a `%` is last, it is today's killer).
        Case("query", "valid bounds", lambda: [get(SUMMARY)], {200}),
        Case("query", "from= (empty)", lambda: [get("/payments-summary?from=")], {200, 400}),
        Case("query", "only separators ?&&=&==", lambda: [get("/payments-summary?&&=&==")], {200, 400}),
        Case("query", "repeated from", lambda: [get(SUMMARY + "&from=2020-01-01T00:00:00.500Z")], {200, 400}),
        Case("query", "1000 parameters", lambda: [get("/payments-summary?" + "&".join(["x=1"] * 1000))],
             {200, 400}),
        Case("query", "from 7 KB", lambda: [get("/payments-summary?from=" + "9" * 7000)], {400}),
        Case("query", "40 fraction digits", lambda: [get("/payments-summary?from=2025-07-10T12:34:56."
                                                         + "1" * 40 + "Z")], {400}),
        Case("query", "year 99999", lambda: [get("/payments-summary?from=99999-01-01T00:00:00Z")], {400}),
        Case("query", "month 13", lambda: [get("/payments-summary?from=2025-13-01T00:00:00Z")], {400}),
        Case("query", "offset +99:99", lambda: [get("/payments-summary?from=2025-07-10T12:34:56%2B99:99")], {400}),
        Case("query", "from=%00", lambda: [get("/payments-summary?from=%00")], {400}),
        Case("query", "from=%zz", lambda: [get("/payments-summary?from=%zz")], {400}),
        Case("query", "from=% (at the end)", lambda: [get("/payments-summary?from=%")], {400}),
        Case("query", "from=%a (at the end)", lambda: [get("/payments-summary?from=%a")], {400}),
        Case("query", "from=%e9 (Latin-1)", lambda: [get("/payments-summary?from=%e9")], {400}),
        Case("query", "from=%C3%28 (bad UTF-8, encoded)", lambda: [get("/payments-summary?from=%C3%28")], {400}),
        Case("query", "raw 0xff in the query", lambda: [get(b"/payments-summary?from=\xff")], {400},
             close_ok=True),
        Case("query", "raw UTF-8 é in the query", lambda: [get("/payments-summary?from=é".encode())], {400},
             close_ok=True),
        Case("path", "/payments/%zz", lambda: [get("/payments/%zz")], {400, 404}),
        Case("path", "/payments/<uuid>%00", lambda: [get(f"/payments/{uuid.uuid4()}%00")], {400, 404}),
        Case("path", "/payments/ + 7000 chars", lambda: [get("/payments/" + "a" * 7000)], {400, 404}),
        Case("path", "/payments/%aé", lambda: [get("/payments/%aé".encode())], {400, 404}, close_ok=True),
        Case("query", "from=%é (raw UTF-8 right after %)", lambda: [get("/payments-summary?from=%é".encode())],
             {400}, close_ok=True),
        Case("query", "from=%aé (raw UTF-8 inside the escape)",
             lambda: [get("/payments-summary?from=%aé".encode())], {400}, close_ok=True),
        Case("query", "to=x%a€ (3-byte UTF-8 in the escape)",
             lambda: [get("/payments-summary?to=x%a€".encode())], {400}, close_ok=True),
    ]
    return out


# -- judging -------------------------------------------------------------------------------------------------
@dataclass
class Row:
    group: str
    name: str
    labels: list[str] = field(default_factory=list)
    ms: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def judge(case: Case, ex: Exchange) -> str | None:
    """None when the exchange follows the rule for this case, else why not."""
    late = ex.ms > ANSWER_S * 1000
    bad = [s for s in ex.statuses if s >= 500 and not (s in (501, 505) and case.expect and s in case.expect)]
    if bad:
        return f"{bad[0]} answer"
    if case.expect is not None:
        wrong = [s for s in ex.statuses if s not in case.expect]
        if wrong:
            return f"{wrong[0]} not in {sorted(case.expect)}"
    if ex.end == "timeout":
        return f"no answer within {WAIT_S:g} s" if not ex.statuses else f"only {len(ex.statuses)} of {case.want}"
    if ex.end == "raw" and not case.close_ok:
        return "not an HTTP answer"
    if ex.end not in ("ok", "timeout") and not case.close_ok:
        return f"connection {ex.end} without an answer"
    if ex.end.startswith("connect failed"):
        return ex.end
    if late:
        return f"took {ex.ms:.0f} ms"
    return None


def run_case(case: Case) -> tuple[Row, int, int]:
    """(row, 202s seen, valid payments whose answer never came)."""
    row = Row(case.group, case.name)
    sure = maybe = 0
    for _ in range(case.repeat):
        ex = exchange(ADDRESS, case.parts(), want=case.want, wait_s=WAIT_S, head=case.head)
        row.labels.append(ex.label())
        row.ms = max(row.ms, ex.ms)
        why = judge(case, ex)
        if why:
            row.failures.append(why)
        sure += ex.statuses.count(202)
        maybe += max(0, case.posts - len(ex.statuses))
    return row, sure, maybe


def valid_post_on(sock, wait_s: float = WAIT_S) -> Exchange:
    t0 = time.monotonic()
    ok = send_parts(sock, [post(payment())])
    ex = read_answers(sock, 1, time.monotonic() + wait_s)
    ex.ms = (time.monotonic() - t0) * 1000
    if not ok and not ex.statuses:
        ex.end = "send-failed"
    return ex


def run_held(held: Held) -> tuple[Row, int, int]:
    """Open the stalled connections, wait, then one valid POST on a fresh connection must get 202 in time."""
    row = Row(held.group, held.name)
    socks = []
    try:
        for _ in range(held.count):
            try:
                s = connect(ADDRESS)
            except OSError as exc:
                row.failures.append(f"connect failed after {len(socks)}: {exc}")
                break
            send_parts(s, held.opener())
            socks.append(s)
        time.sleep(held.hold_s)
        try:
            with connect(ADDRESS) as s:
                ex = valid_post_on(s)
        except OSError as exc:
            ex = Exchange(end=f"connect failed: {exc}")
    finally:
        for s in socks:
            s.close()
    row.labels.append(f"{len(socks)} held; probe {ex.label()}")
    row.ms = ex.ms
    if ex.statuses != [202] or ex.ms > ANSWER_S * 1000:
        row.failures.append(f"probe POST: {ex.label()} in {ex.ms:.0f} ms")
    return row, ex.statuses.count(202), 1 - len(ex.statuses)


# -- afterwards ----------------------------------------------------------------------------------------------
def valid_posts(n: int, threads: int = 4) -> tuple[int, int, int, list[str]]:
    """n valid POSTs on `threads` keep-alive connections (a broken one is reopened).
    Returns (202s in time, 202s late or other answers, unanswered, problems)."""
    lock = threading.Lock()
    counts = {"in_time": 0, "late": 0, "unanswered": 0}
    problems: list[str] = []

    def worker(count: int) -> None:
        sock = None
        for _ in range(count):
            try:
                sock = sock or connect(ADDRESS)
                ex = valid_post_on(sock)
            except OSError as exc:
                ex = Exchange(end=f"connect failed: {exc}")
            with lock:
                if ex.statuses == [202] and ex.ms <= ANSWER_S * 1000:
                    counts["in_time"] += 1
                else:
                    problems.append(f"{ex.label()} in {ex.ms:.0f} ms")
                    counts["late"] += ex.statuses.count(202)
                    counts["unanswered"] += 0 if ex.statuses else 1
            if ex.end != "ok" and sock is not None:
                sock.close()
                sock = None
        if sock is not None:
            sock.close()

    pool = [threading.Thread(target=worker, args=(n // threads + (i < n % threads),)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return counts["in_time"], counts["late"], counts["unanswered"], problems


def booked_total() -> int | None:
    try:
        status, body = probe.http_request(f"{ADDRESS[0]}:{ADDRESS[1]}", "/payments-summary", timeout=WAIT_S)
        doc = json.loads(body)
        return int(doc["default"]["totalRequests"]) + int(doc["fallback"]["totalRequests"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def wait_booked(low: int, high: int) -> int | None:
    """The all-time count once it is ≥ low and has not moved for 3 s (or the timeout)."""
    start = time.monotonic()
    last, since = None, start
    while time.monotonic() - start < DRAIN_TIMEOUT_S:
        n = booked_total()
        now = time.monotonic()
        if n != last:
            last, since = n, now
        if n is not None and n >= low and now - since >= 3.0:
            break
        time.sleep(0.5)
    return last


def api_probes(run_dir) -> list[tuple[str, bool, str]]:
    """Each API's own readiness probe (its socket, bypassing nginx), timed."""
    out = []
    opts = services.Options.load(run_dir)
    for svc in services.all_services(opts):
        if svc.name.startswith("api"):
            t0 = time.monotonic()
            ok = svc.ready()
            ms = (time.monotonic() - t0) * 1000
            out.append((f"{svc.name} answers its readiness probe within {ANSWER_S:g} s",
                        ok and ms <= ANSWER_S * 1000, f"{'ok' if ok else 'no answer'} in {ms:.0f} ms"))
    return out


def service_pids(run_dir) -> dict:
    state = control.read_state(run_dir) or {}
    return {name: (s.get("pid"), s.get("restarts")) for name, s in state.get("services", {}).items()}


# -- main ----------------------------------------------------------------------------------------------------
def table(rows: list[Row]) -> str:
    width = max((len(r.name) for r in rows), default=4) + 2
    lines = [f"{'group':<11}{'case':<{width}}{'status/close (each attempt)':<34}{'ms':>7}  verdict"]
    for r in rows:
        labels = " | ".join(r.labels)
        lines.append(f"{r.group:<11}{r.name:<{width}}{labels:<34}{r.ms:>7.0f}  "
                     + ("ok" if r.ok else "FAIL: " + "; ".join(dict.fromkeys(r.failures))))
    return "\n".join(lines) + "\n"


def suite(run_dir, out, only: list[str], skip: list[str]) -> list[tuple[str, bool, str]]:
    """Every case, then the checks afterwards; returns (name, passed, detail) for the summary."""
    before = service_pids(run_dir)
    rows: list[Row] = []
    sure = maybe = 0
    selected = [c for c in cases()
                if (not only or any(o in f"{c.group} {c.name}" for o in only))
                and not any(s in f"{c.group} {c.name}" for s in skip)]
    t0 = time.monotonic()
    for case in selected:
        row, s, m = run_held(case) if isinstance(case, Held) else run_case(case)
        rows.append(row)
        sure, maybe = sure + s, maybe + m
    text = table(rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.txt").write_text(text)
    print("\n" + text, end="", flush=True)
    failed_rows = [r for r in rows if not r.ok]
    print(f"[hostile] {len(rows)} cases in {time.monotonic() - t0:.0f} s; {len(failed_rows)} failed", flush=True)
    accepted, late, unanswered, problems = valid_posts(VALID_POSTS)
    sure += accepted + late
    maybe += unanswered
    results = [(f"{len(rows)} hostile cases follow the rule", not failed_rows,
                f"{len(failed_rows)} failed: " + ", ".join(r.name for r in failed_rows) if failed_rows else "all ok"),
               (f"then {VALID_POSTS} valid POSTs each 202 within {ANSWER_S:g} s", accepted == VALID_POSTS,
                f"{accepted} accepted" + (f"; e.g. {', '.join(problems[:3])}" if problems else ""))]
    results += api_probes(run_dir)
    after = service_pids(run_dir)
    restarted = {n: (before.get(n), a) for n, a in after.items() if before.get(n) != a}
    results.append(("no service restarted (supervisor count and pids)", not restarted, f"{restarted or 'none'}"))
    booked = wait_booked(sure, sure + maybe)
    results.append(("all-time summary holds the 202s and nothing a 4xx refused",
                    booked is not None and sure <= booked <= sure + maybe,
                    f"booked {booked}, 202s seen {sure}, unanswered valid payments {maybe}"))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack.py hostile", description=__doc__.splitlines()[0])
    parser.add_argument("--running", action="store_true", help="use the stack already up (else up, run, down)")
    parser.add_argument("--only", action="append", default=[], help="run only cases whose 'group name' has TEXT")
    parser.add_argument("--skip", action="append", default=[], help="skip cases whose 'group name' has TEXT")
    args = parser.parse_args(argv or [])
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = layout.TARGET / "hostile" / stamp
    if args.running:
        run_dir = layout.recorded_run_dir()
        if not run_dir or not control.supervisor_pid(run_dir):
            print("[hostile] no stack is up (make up EMULATORS=1 first, or drop --running)", file=sys.stderr)
            return 1
        results = suite(run_dir, out, args.only, args.skip)
    else:
        try:
            run_dir = control.up(emulators=True, purge=True)
        except control.UpError as exc:
            print(f"[hostile] FAIL make up: {exc}", flush=True)
            return 1
        try:
            results = suite(run_dir, out, args.only, args.skip)
        finally:
            shutil.copytree(run_dir / "logs", out / "logs", dirs_exist_ok=True)
            problems = control.down()
        results.append(("make down left nothing behind", not problems and not control.leftovers(),
                        "; ".join(problems + control.leftovers()) or "clean"))
    for name, passed, detail in results:
        print(f"[hostile] {'PASS' if passed else 'FAIL'} {name} ({detail})", flush=True)
    failed = [name for name, passed, _ in results if not passed]
    (out / "results.txt").write_text("".join(f"{'PASS' if p else 'FAIL'} {n} ({d})\n" for n, p, d in results))
    print(f"[hostile] {len(results) - len(failed)} passed, {len(failed)} failed; table and logs in {out}", flush=True)
    return 1 if failed else 0
