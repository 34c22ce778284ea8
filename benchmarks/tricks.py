"""What one performance trick saves: paired ON/OFF rounds of benchmarks/run.py's isolation case.

    python benchmarks/tricks.py send_ahead          # session loop (the harness's default)
    python benchmarks/tricks.py relay --pairs 9     # function-scoped loops
    python benchmarks/tricks.py query_count --clock process  # what counting costs (negative: saved), CPU time

Each pair runs the same 500 trivial tests (``async_db_session`` + ``SELECT 1``) twice, once as
shipped and once with the trick turned off by ``benchmarks/tricks_off.py`` (a pytest plugin that
patches the harness in the benchmark's process only), alternating which goes first; each run's
figure is the median time per test inside it (benchmarks/pertest.py). Only the differences
within a pair mean anything on a shared VM: the result is their median, in ms a test and as a
share of the run without the trick. Prints one JSON line per pair and the medians, and appends
the pairs to ``--out`` if given. docs/performance.md, session 6, has the figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench

CASES = {"send_ahead": "session", "relay": "function", "query_count": "session"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trick", choices=sorted(CASES))
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("-n", type=int, default=500, help="tests per run")
    parser.add_argument("--out", type=Path, help="append each pair as a JSON line")
    parser.add_argument("--clock", choices=["wall", "process"], default="wall",
                        help="process: the test process's CPU time a test (benchmarks/pertest.py)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="async-test-tricks-"))
    work.chmod(0o755)  # as root the server runs as postgres and must reach the cluster in here
    ini = "async_test_metadata = models:Base\n"
    if CASES[args.trick] == "function":
        ini += "asyncio_default_fixture_loop_scope = function\nasyncio_default_test_loop_scope = function\n"
    try:
        rows = pairs(args, bench.isolation_project(work, CASES[args.trick], ini, bench.ISOLATION_TEST))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.trick}: {statistics.median(r['saved_ms'] for r in rows):.3f} ms a test saved, "
          f"{statistics.median(r['saved_pct'] for r in rows):.1f} % of the run (median of {len(rows)} pairs)")
    return 0


def pairs(args: argparse.Namespace, project: Path) -> List[Dict[str, Any]]:
    env = bench.clean_env()
    rows = []
    for i in range(args.pairs):
        order = [("on", ""), ("off", args.trick)]
        if i % 2:
            order.reverse()
        row: Dict[str, Any] = {"trick": args.trick, "clock": args.clock, "pair": i + 1, "first": order[0][0],
                               "time": time.strftime("%Y-%m-%d %H:%M:%S")}
        for label, off in order:
            ms = bench.per_test_ms(project, args.n, dict(env, BENCH_TRICKS_OFF=off, BENCH_PERTEST_CLOCK=args.clock),
                                   ["-p", "tricks_off"])
            row[label] = round(ms, 4)
        row["saved_ms"] = round(row["off"] - row["on"], 4)
        row["saved_pct"] = round(100 * row["saved_ms"] / row["off"], 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.out:
            with args.out.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
    return rows


if __name__ == "__main__":
    sys.exit(main())
