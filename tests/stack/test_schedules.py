"""The load script's reading of the schedules, through k6 itself (`k6 inspect` runs the script's init code
and prints the options it built, without sending a request): every committed schedule loads, and the
payments scenario follows the schedule's ramp.

`python3 -m unittest discover -s tests/stack -p 'test_*.py'`; needs k6 (`make tools`).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import unittest
from pathlib import Path

import layout

K6_DIR = layout.REPO / "k6"


def inspect(schedule: str | Path, **env: str) -> subprocess.CompletedProcess:
    k6 = layout.k6_bin()
    if not k6:
        raise AssertionError("k6 not found: run make tools")
    # `k6 inspect` does not pass the process environment to the script (`k6 run` does): -e does.
    variables = [arg for key, value in {"SCHEDULE": str(schedule), **env}.items() for arg in ("-e", f"{key}={value}")]
    return subprocess.run([k6, "inspect", *variables, "rinha.js"], cwd=K6_DIR, capture_output=True, text=True,
                          timeout=60)


def payments_scenario(schedule: str | Path, **env: str) -> dict:
    done = inspect(schedule, **env)
    if done.returncode != 0:
        raise AssertionError(f"k6 inspect {schedule}: {done.stderr.strip()[-600:]}")
    return json.loads(done.stdout)["scenarios"]["payments"]


def vu_stages(schedule: str | Path, **env: str) -> list[dict]:
    return payments_scenario(schedule, **env)["stages"]


def seconds(duration: str) -> float:
    """k6's rendering of a duration (`1m0s`, `2m30s`, `500ms`, `1.5s`) in seconds."""
    total, number = 0.0, ""
    rest = duration
    while rest:
        if rest[0].isdigit() or rest[0] == ".":
            number, rest = number + rest[0], rest[1:]
            continue
        unit = "ms" if rest.startswith("ms") else rest[0]
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
        number, rest = "", rest[len(unit):]
    return total


def shaped(path: Path, shape) -> Path:
    raw = json.loads((K6_DIR / "schedules" / "published.json").read_text())
    raw["ramp"] = {"duration_s": 60, "max_requests": 400, "shape": shape}
    path.write_text(json.dumps(raw))
    return path


class Schedules(unittest.TestCase):
    def test_every_committed_schedule_loads_and_its_ramp_lasts_the_test(self):
        for file in sorted((K6_DIR / "schedules").glob("*.json")):
            with self.subTest(schedule=file.stem):
                raw = json.loads(file.read_text())
                stages = vu_stages(file.stem)
                self.assertAlmostEqual(sum(seconds(s["duration"]) for s in stages), raw["ramp"]["duration_s"],
                                       places=2)
                self.assertEqual(max(s["target"] for s in stages), raw["ramp"]["max_requests"])

    def test_the_published_ramp_is_one_straight_line(self):
        self.assertEqual(vu_stages("published"), [{"duration": "1m0s", "target": 550}])
        self.assertEqual(vu_stages("published", MAX_REQUESTS="100", TIME_SCALE="0.5"),
                         [{"duration": "30s", "target": 100}])

    def test_a_shape_sets_each_stage_as_a_share_of_max_requests(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = shaped(Path(tmp) / "spiky.json", [[20, 0.25], [22, 1], [40, 1], [41, 0.1], [60, 0.5]])
            self.assertEqual(vu_stages(path), [
                {"duration": "20s", "target": 100}, {"duration": "2s", "target": 400},
                {"duration": "18s", "target": 400}, {"duration": "1s", "target": 40},
                {"duration": "19s", "target": 200}])
            scaled = vu_stages(path, MAX_REQUESTS="1000", TIME_SCALE="0.5")
            self.assertEqual([s["target"] for s in scaled], [250, 1000, 1000, 100, 500])
            self.assertEqual([seconds(s["duration"]) for s in scaled], [10, 1, 9, 0.5, 9.5])

    def test_a_falling_shape_lets_a_post_in_flight_finish(self):
        # A VU that a falling ramp removes mid-POST leaves a payment the backend accepted and k6 never
        # counted (a negative lag, the contest's "caixa dois"): the first spike run lost 3 that way. So
        # VUs get longer than an iteration can take (the 1.5 s request timeout and the 1 s sleep).
        with tempfile.TemporaryDirectory() as tmp:
            scenario = payments_scenario(shaped(Path(tmp) / "falls.json", [[20, 1], [22, 0.1], [60, 0.1]]))
        self.assertGreater(seconds(scenario["gracefulRampDown"]), 2.5)

    def test_a_bad_shape_is_refused_with_the_field_named(self):
        cases = {
            "does not end at duration_s": [[20, 0.5], [50, 1]],
            "times do not increase": [[20, 0.5], [20, 1], [60, 1]],
            "share over 1": [[30, 1.5], [60, 1]],
            "not pairs": [[30], [60, 1]],
            "empty": [],
        }
        with tempfile.TemporaryDirectory() as tmp:
            for why, shape in cases.items():
                with self.subTest(why):
                    done = inspect(shaped(Path(tmp) / "bad.json", shape))
                    self.assertNotEqual(done.returncode, 0)
                    self.assertIn("ramp.shape", done.stdout + done.stderr)


if __name__ == "__main__":
    unittest.main()
