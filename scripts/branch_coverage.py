"""Combine the coverage data of a test run (the test process and every Python process it started)
and print the branch coverage of src/llamav: the per-file table, then one line with the share of
branch arcs taken. Exits 1 when that share is under --fail-under.

    python scripts/branch_coverage.py DATA_DIR [--fail-under 90]

coverage.py's own TOTAL mixes lines and branches; issue 24 sets its bar on branches alone, so the
figure that counts is computed here from coverage's JSON report.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import coverage

RCFILE = Path(__file__).resolve().parent / "coverage.ini"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="the folder COVERAGE_FILE pointed into")
    parser.add_argument("--fail-under", type=float, default=0.0, help="lowest acceptable branch share, percent")
    args = parser.parse_args()
    cov = coverage.Coverage(data_file=str(args.data / ".coverage"), config_file=str(RCFILE))
    # Each process wrote .coverage.<host>.<pid>.<random>; a folder combined before holds .coverage.
    if any(args.data.glob(".coverage.*")):
        cov.combine([str(args.data)])
        cov.save()
    cov.load()
    if not cov.get_data().measured_files():
        print(f"no coverage data in {args.data}", file=sys.stderr)
        return 1
    cov.report(skip_covered=True, show_missing=False)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "coverage.json"
        cov.json_report(outfile=str(out))
        totals = json.loads(out.read_text())["totals"]
    taken, arcs = totals["covered_branches"], totals["num_branches"]
    share = 100.0 * taken / arcs if arcs else 100.0
    print(f"branch coverage of src/llamav, all processes: {taken} of {arcs} branch arcs, {share:.1f}% "
          f"(lines {totals['covered_lines']} of {totals['num_statements']}, "
          f"{100.0 * totals['covered_lines'] / max(totals['num_statements'], 1):.1f}%)")
    if share < args.fail_under:
        print(f"branch coverage {share:.1f}% is under the bar of {args.fail_under:g}%", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
