"""Unit tests of the timeline's pure parts: `python3 -m unittest discover -s tests/stack -p 'test_*.py'`."""

from __future__ import annotations

import csv
import gzip
import json
import tempfile
import unittest
from pathlib import Path

import tail_share
import timeline


class Quantiles(unittest.TestCase):
    def test_interpolates_like_k6(self):
        vals = [float(v) for v in range(1, 101)]
        self.assertAlmostEqual(timeline.quantile(vals, 0.99), 99.01)
        self.assertEqual(timeline.quantile(vals, 0.5), 50.5)
        self.assertIsNone(timeline.quantile([], 0.99))


class Buckets(unittest.TestCase):
    def test_failed_posts_count_but_do_not_enter_the_percentiles(self):
        posts = [(1.0, 2.0, True), (2.0, 4.0, True), (3.0, 1500.0, False), (12.0, 7.0, True)]
        b = timeline.buckets(posts)
        self.assertEqual(b[0], {"posts": 3, "failed": 1, "p50": 3.0, "p99": 3.98})
        self.assertEqual(b[10]["posts"], 1)

    def test_verdict_names_only_big_buckets_over_the_ratio(self):
        rows = [{"bucket_s": 0, "posts": 999, "p99_over_floor": 9.0},
                {"bucket_s": 10, "posts": 1000, "p99_over_floor": 3.5},
                {"bucket_s": 20, "posts": 5000, "p99_over_floor": 2.0}]
        self.assertIn("10s (3.5x)", timeline.verdict(rows))
        self.assertNotIn("0s (9.0x)", timeline.verdict(rows))
        self.assertIn("none", timeline.verdict(rows[2:]))


class TailShare(unittest.TestCase):
    def test_the_slowest_one_percent_is_counted_where_it_falls(self):
        # 200 fast POSTs spread over two buckets, the two slowest (over p99) both in the second; a failed
        # one is neither a POST of the share nor slow.
        posts = [(float(i % 20), 1.0, True) for i in range(198)] + [(15.0, 9.0, True), (16.0, 8.0, True)]
        posts.append((1.0, 1500.0, False))
        by = tail_share.shares(posts)
        self.assertEqual(by[0], (0.5, 0.0))
        self.assertEqual(by[10], (0.5, 1.0))
        self.assertEqual(tail_share.shares([]), {})

    def test_the_slowest_one_percent_is_counted_by_the_company_it_started_in(self):
        # 190 POSTs alone (starts 50 ms apart) and one crowd of 10 started within the same millisecond;
        # the two slowest are in the crowd, so the crowd's class holds 5 % of the POSTs and all the tail.
        # A POST's start is its end minus its duration: the crowd ends spread over 9 ms.
        alone = [(i * 0.05 + 0.001, 1.0, True) for i in range(190)]
        crowd = [(100.0 + (ms - 1.0) / 1000, ms, True) for ms in (1.0, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 9.0, 10.0)]
        by = tail_share.company_shares(alone + crowd + [(5.0, 1500.0, False)])
        self.assertEqual(by["1"], (0.95, 0.0))
        self.assertEqual(by["10+"], (0.05, 1.0))
        self.assertEqual(by["2-4"], (0.0, 0.0))
        self.assertEqual(tail_share.company_shares([]), {})

    def test_latency_by_the_posts_already_in_flight_when_each_started(self):
        # Three POSTs overlap: the first starts alone (0 in flight), the second with one, the third with two;
        # a fourth starts after all ended. Failed POSTs are neither counted nor in flight.
        posts = [(0.010, 10.0, True), (0.012, 11.0, True), (0.013, 11.0, True), (1.001, 1.0, True),
                 (0.0115, 10.0, False)]
        by = tail_share.latency_by_inflight(posts)
        self.assertEqual(tuple(round(v, 6) for v in by["0"]), (2, 5.5, 9.91))
        self.assertEqual(tuple(round(v, 6) for v in by["1-2"]), (2, 11.0, 11.0))
        self.assertNotIn("3-5", by)
        self.assertEqual(tail_share.latency_by_inflight([]), {})


class Reading(unittest.TestCase):
    def test_prometheus_lines_with_labels_and_junk(self):
        text = '# TYPE x gauge\nrinha_processor_inflight{processor="default"} 12\nbroken line\nrinha_queue_length 3\n'
        m = timeline.parse_prometheus(text)
        self.assertEqual(m['rinha_processor_inflight{processor="default"}'], 12.0)
        self.assertEqual(m["rinha_queue_length"], 3.0)
        self.assertEqual(len(m), 2)

    def test_only_post_payment_durations_are_read_relative_to_the_sampler_start(self):
        with tempfile.TemporaryDirectory() as d:
            run = Path(d)
            (run / "timeline-meta.json").write_text(json.dumps({"t0": 1000.0}))
            with gzip.open(run / timeline.POINTS, "wt", newline="") as f:
                w = csv.writer(f)
                w.writerow(["metric_name", "timestamp", "metric_value", "expected_response", "extra_tags"])
                w.writerow(["http_req_duration", "1002500", "3.5", "true", "op=post_payment&target=backend"])
                w.writerow(["http_req_duration", "1003000", "9.0", "true", "op=summary&target=backend"])
                w.writerow(["http_req_waiting", "1003000", "2.0", "true", "op=post_payment&target=backend"])
                w.writerow(["http_req_duration", "1004", "1500", "false", "op=post_payment&target=backend"])
            self.assertEqual(timeline.read_posts(run), [(2.5, 3.5, True), (4.0, 1500.0, False)])

    def test_counters_become_rates(self):
        samples = [{"t": 0.0, "x": 1.0}, {"t": 2.0, "x": 3.0}, {"t": 3.0, "x": None}]
        self.assertEqual(timeline.rates(samples, "x"), [(2.0, 1.0), (3.0, None)])

    def test_the_hosts_busy_and_stolen_time_come_from_the_cpu_line_in_seconds(self):
        stat = ("cpu  1000 20 300 5000 40 5 75 60 0 0\ncpu0 500 10 150 2500 20 2 37 30 0 0\n"
                "procs_running 3\n")
        self.assertEqual(timeline.host_cpu_times(stat, ticks_per_s=100), {"host_busy_s": 14.0, "steal_s": 0.6})
        self.assertEqual(timeline.host_cpu_times("procs_running 3\n", ticks_per_s=100),
                         {"host_busy_s": None, "steal_s": None})

    def test_a_bucket_shows_what_the_host_spent_and_lost_to_the_hypervisor(self):
        samples = [{"t": float(t), "host_busy_s": 3.0 * t, "steal_s": 0.5 * t} for t in range(0, 21)]
        rows = timeline.bucket_table({10: {"posts": 5, "failed": 0, "p50": 1.0, "p99": 2.0}}, {}, samples, [])
        # From the sample at the bucket's start (10 s) to its last (19 s), as for the services.
        self.assertEqual((rows[0]["host_busy_s"], rows[0]["steal_s"]), (27.0, 4.5))
        self.assertIn("steal s", timeline.render_table(rows, []))


if __name__ == "__main__":
    unittest.main()
