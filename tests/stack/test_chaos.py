"""The fault suite's counting (chaos.judge): what is lost, in the AOF window, double-charged, mismatched."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos import Sent, judge  # noqa: E402


class JudgeTest(unittest.TestCase):
    def sent(self):
        return [Sent("a", 202, 1.0), Sent("b", 202, 5.0), Sent("c", 202, 9.0), Sent("d", 0, 9.5),
                Sent("e", 422, 9.6), Sent("f", 202, 2.0)]

    def test_a_clean_run_passes(self):
        at = {"default": {"a", "b", "c"}, "fallback": {"f"}}
        books = {"default": (3, 5970), "fallback": (1, 1990)}
        doc = judge(self.sent(), at, None, books, books)
        self.assertEqual((doc["accepted"], doc["lost"], doc["double"], doc["mismatches"]), (4, 0, 0, 0))
        self.assertEqual(doc["verdict"], "PASS")

    def test_missing_after_the_cut_is_the_aof_window_and_before_it_is_lost(self):
        at = {"default": {"b"}, "fallback": {"f"}}
        books = {"default": (1, 1990), "fallback": (1, 1990)}
        doc = judge(self.sent(), at, (8.0, 9.2), books, books)
        self.assertEqual((doc["lost"], doc["aof_window"], doc["aof_window_accepted"]), (1, 1, 1))
        self.assertEqual(doc["lost_ids"], ["a"])
        self.assertEqual(doc["verdict"], "FAIL")

    def test_missing_after_the_window_is_lost(self):
        at = {"default": {"a", "b", "f"}, "fallback": set()}
        books = {"default": (3, 5970), "fallback": (0, 0)}
        doc = judge(self.sent(), at, (4.0, 6.0), books, books)
        self.assertEqual((doc["lost"], doc["aof_window"], doc["aof_window_accepted"]), (1, 0, 1))

    def test_stored_at_both_is_double_even_without_a_202(self):
        at = {"default": {"a", "b", "c", "d", "f"}, "fallback": {"d"}}
        ours = {"default": (5, 9950), "fallback": (0, 0)}
        doc = judge(self.sent(), at, None, ours, {"default": (5, 9950), "fallback": (1, 1990)})
        self.assertEqual((doc["double"], doc["double_ids"], doc["mismatches"]), (1, ["d"], 1))
        self.assertEqual(doc["verdict"], "FAIL")

    def test_money_that_differs_at_equal_counts_is_a_mismatch(self):
        at = {"default": {"a", "b", "c"}, "fallback": {"f"}}
        doc = judge(self.sent(), at, None, {"default": (3, 5970), "fallback": (1, 1990)},
                    {"default": (3, 5971), "fallback": (1, 1990)})
        self.assertEqual(doc["mismatches"], 1)


if __name__ == "__main__":
    unittest.main()
