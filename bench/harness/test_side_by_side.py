"""Unit tests for the pure parts of the side-by-side harness (no servers started).

Run: python3 -m unittest discover -s bench/harness
"""

import tempfile
import unittest
from pathlib import Path

import side_by_side as h

CSV_OUT = (
    '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",'
    '"p99_latency_ms","max_latency_ms"\n'
    '"MSET (10 keys)","98522.17","7.817","0.880","6.535","14.215","14.935","15.327"\n'
)


class ParseCsv(unittest.TestCase):
    def test_reads_rps_and_latencies(self):
        r = h.parse_csv(CSV_OUT)
        self.assertEqual(r["rps"], 98522.17)
        self.assertEqual(r["p50_ms"], 6.535)
        self.assertEqual(r["p99_ms"], 14.935)

    def test_no_rows_is_none(self):
        self.assertIsNone(h.parse_csv(""))
        self.assertIsNone(h.parse_csv(CSV_OUT.splitlines()[0] + "\n"))


class WriteSection(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "B.md"

    def tearDown(self):
        self.dir.cleanup()

    def test_creates_file_and_appends_section(self):
        h.write_section(self.path, "side-by-side", "## A\n\nfirst\n")
        text = self.path.read_text()
        self.assertTrue(text.startswith("# Benchmarks\n"))
        self.assertIn("<!-- side-by-side:begin -->\n## A\n\nfirst\n<!-- side-by-side:end -->\n", text)

    def test_replaces_only_its_own_section(self):
        self.path.write_text(
            "# Benchmarks\n\nintro\n\n<!-- criterion:begin -->\nC\n<!-- criterion:end -->\n\n"
            "<!-- side-by-side:begin -->\nold\n<!-- side-by-side:end -->\n\ntail text\n")
        h.write_section(self.path, "side-by-side", "new")
        text = self.path.read_text()
        self.assertNotIn("old", text)
        self.assertIn("<!-- side-by-side:begin -->\nnew\n<!-- side-by-side:end -->\n", text)
        self.assertIn("<!-- criterion:begin -->\nC\n<!-- criterion:end -->", text)
        self.assertIn("intro", text)
        self.assertIn("tail text", text)
        h.write_section(self.path, "side-by-side", "newer")
        self.assertEqual(self.path.read_text().count("side-by-side:begin"), 1)

    def test_prefix_named_sections_are_distinct(self):
        h.write_section(self.path, "side-by-side-noise", "noise")
        h.write_section(self.path, "side-by-side", "main")
        text = self.path.read_text()
        self.assertIn("noise", text)
        self.assertIn("main", text)


class FillFile(unittest.TestCase):
    def test_deterministic_resp_with_fixed_size_values(self):
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "f.resp"
            h.write_fill_file(p, 3, 32)
            data = p.read_bytes()
        cmds = data.split(b"*3\r\n")[1:]
        self.assertEqual(len(cmds), 3)
        parts = cmds[2].split(b"\r\n")
        self.assertEqual(parts[:4], [b"$3", b"SET", b"$16", b"key:000000000002"])
        self.assertEqual(parts[4], b"$32")
        self.assertEqual(len(parts[5]), 32)


class Summarize(unittest.TestCase):
    def test_medians_ratio_and_paired_ratio(self):
        args = h.parse_args(["--tests", "SET", "--pipeline-values", "1"])
        run = lambda rnd, rps: {"round": rnd, "rps": rps, "p50_ms": 0.3}
        tp = {"rows": {"SET|1": {"flotilla": [run(1, 50), run(2, 100), run(3, 60)],
                                 "redis": [run(1, 100), run(2, 200), run(3, 100)]}},
              "errors": {"flotilla": {}, "redis": {}}}
        (row,) = h.summarize(args, tp)
        self.assertEqual(row["flotilla"]["rps_median"], 60)
        self.assertEqual(row["redis"]["rps_median"], 100)
        self.assertAlmostEqual(row["ratio"], 0.6)
        self.assertAlmostEqual(row["paired_ratio"], 0.5)


if __name__ == "__main__":
    unittest.main()
