"""The wire reader (`make bench WIRE=1`) on a pcap written here, packet by packet, with known times."""

import struct
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wire  # noqa: E402

A = "11111111-1111-4111-8111-111111111111"
B = "22222222-2222-4222-8222-222222222222"
C = "33333333-3333-4333-8333-333333333333"
D = "44444444-4444-4444-8444-444444444444"
API, REDIS = 9981, 9983


def frame(sport: int, dport: int, payload: bytes) -> bytes:
    tcp = struct.pack(">HHIIBBHHH", sport, dport, 1, 1, 5 << 4, 0x18, 65535, 0, 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, bytes([127, 0, 0, 1]),
                     bytes([127, 0, 0, 1])) + tcp
    return b"\0" * 12 + b"\x08\x00" + ip


def write_pcap(path: Path, pkts: list[tuple[float, int, int, bytes]]) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, sport, dport, payload in pkts:
            data = frame(sport, dport, payload)
            f.write(struct.pack("<IIII", int(t), round((t - int(t)) * 1e6), len(data), len(data)) + data)


def post(cid: str) -> bytes:
    body = f'{{"correlationId":"{cid}","amount":19.90}}'.encode()
    return b"POST /payments HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body


def accepted(cid: str) -> bytes:
    return f'HTTP/1.1 202 Accepted\r\n\r\n{{"correlationId":"{cid}","status":"accepted"}}'.encode()


def resp(*args: str) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in args)


def intake(cid: str) -> bytes:
    return resp("EVALSHA", "f00d", "1", "payments", cid, "1990", "0", "acc:", "60000", "2")


class Wire(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.pcap = Path(self.tmp.name) / "cap.pcap"

    def tearDown(self):
        self.tmp.cleanup()

    def trace(self, pkts):
        write_pcap(self.pcap, pkts)
        read = list(wire.packets(self.pcap))
        return read, {r["c2n"]: r for r in wire.hop_times(read, {API}, REDIS)}

    def test_one_post_through_every_hop_beside_a_worker_read_in_flight(self):
        read, traced = self.trace([
            (0.500, 60001, REDIS, resp("XREADGROUP", "GROUP", "g", "w", "BLOCK", "1000")),  # answered later
            (1.000, 40000, 9999, post(A)),
            (1.001, 50000, API, post(A)),
            (1.002, 50100, REDIS, intake(A)),
            (1.0025, REDIS, 60001, b"*-1\r\n"),  # the worker's reply, on its own connection
            (1.004, REDIS, 50100, b":1\r\n"),
            (1.005, API, 50000, accepted(A)),
            (1.006, 9999, 40000, accepted(A)),
        ])
        self.assertEqual(len(read), 8)
        self.assertEqual(len(traced), 1)
        marks = traced[1.0]
        ms = {name: round((marks[b] - marks[a]) * 1000, 3) for name, a, b in wire.SEGMENTS}
        self.assertEqual(ms, {"nginx in → API": 1.0, "API in → Redis": 1.0, "Redis": 2.0, "API out": 1.0,
                              "nginx → client": 1.0, "wire total": 6.0})
        self.assertEqual([round(ms, 3) for _, ms in wire.post_times(read)], [6.0])

    def test_a_pipelined_pair_is_answered_in_order(self):
        _, traced = self.trace([
            (1.000, 40000, 9999, post(B)), (1.0001, 40001, 9999, post(C)),
            (1.001, 50000, API, post(B)), (1.0011, 50001, API, post(C)),
            (1.002, 50100, REDIS, intake(B) + intake(C)),
            (1.003, REDIS, 50100, b":1\r\n"), (1.0035, REDIS, 50100, b":0\r\n"),
            (1.004, API, 50000, accepted(B)), (1.0041, API, 50001, accepted(C)),
            (1.005, 9999, 40000, accepted(B)), (1.0051, 9999, 40001, accepted(C)),
        ])
        self.assertEqual(round(traced[1.000]["r2a"], 4), 1.003)
        self.assertEqual(round(traced[1.0001]["r2a"], 4), 1.0035)

    def test_a_reply_to_a_request_sent_before_the_capture_is_skipped(self):
        _, traced = self.trace([
            (0.900, REDIS, 50100, b":1\r\n"),  # answers a request the capture did not see
            (1.000, 40000, 9999, post(A)), (1.001, 50000, API, post(A)),
            (1.002, 50100, REDIS, intake(A)), (1.004, REDIS, 50100, b":1\r\n"),
            (1.005, API, 50000, accepted(A)), (1.006, 9999, 40000, accepted(A)),
        ])
        self.assertEqual(round(traced[1.0]["r2a"], 4), 1.004)

    def test_a_reply_on_another_connection_is_not_taken_for_the_intakes(self):
        # Negative control: the only reply goes to another client port, so the POST cannot be traced,
        # though its wire time is still known.
        read, traced = self.trace([
            (1.000, 40000, 9999, post(A)), (1.001, 50000, API, post(A)),
            (1.002, 50100, REDIS, intake(A)), (1.003, REDIS, 50200, b":1\r\n"),
            (1.005, API, 50000, accepted(A)), (1.006, 9999, 40000, accepted(A)),
        ])
        self.assertEqual(traced, {})
        self.assertEqual(len(wire.post_times(read)), 1)

    def test_the_floor_answer_without_an_id_still_times_the_post(self):
        read, _ = self.trace([
            (2.0, 40001, 9999, post(D)), (2.0007, 9999, 40001, b"HTTP/1.1 202 Accepted\r\n\r\n{}"),
            (2.1, 40002, 9999, post(A)),  # never answered: no time
        ])
        self.assertEqual([round(ms, 3) for _, ms in wire.post_times(read)], [0.7])

    def test_resp_counts_whole_values_and_at_least_one(self):
        self.assertEqual(wire.resp_count(b":1\r\n:0\r\n$3\r\nabc\r\n*2\r\n$1\r\na\r\n:5\r\n"), 4)
        self.assertEqual(wire.resp_count(b"$10\r\ncut"), 1)


if __name__ == "__main__":
    unittest.main()
