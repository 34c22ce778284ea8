"""Sharding benchmark (issue 16): how even are 4 shards, and how long does combining 4 folders take?

Balance is simulated: a generated suite of 2,000 tests in modules of skewed sizes with skewed
durations (log-normal, plus a few slow tests), assigned by ``sharding.assign`` exactly as the plugin
assigns them, and each shard's time summed from the "true" durations. Reported: slowest shard /
ideal (sum / 4) with the durations known (the second run onwards: target <= 1.15) and unknown (the
first run: modules dealt by size, target <= 1.5), for several suites (seeds), median and worst.

The combine is real: a generated unit-only project run as 4 shards with ``async-test run
--shard K/4 --only unit``, then ``async-test combine`` of the 4 folders, timed (wall time of the
command, and the ``combine`` phase it records).

    python benchmarks/sharding.py            # prints a table; --json for one JSON document
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

from async_test_harness.sharding import assign, balance

TESTS = 2000
SHARDS = 4


SCENARIOS = {"many small modules": (3, 60), "few large modules": (12, 300)}  # module size: scale, cap


def generated_suite(seed: int, tests: int = TESTS, scale: int = 3, cap: int = 60) -> Tuple[List[str], Dict[str, float]]:
    """Node ids and their true durations: module sizes Pareto-distributed (most small, up to ``cap``),
    durations log-normal (median 20 ms, a long tail), 1 % of tests slow (1-8 s), 3 % of modules slow."""
    rng = random.Random(seed)
    ids: List[str] = []
    durations: Dict[str, float] = {}
    module = 0
    while len(ids) < tests:
        size = min(tests - len(ids), max(1, int(rng.paretovariate(1.2) * scale)), cap)
        slow_module = rng.random() < 0.03
        for t in range(size):
            nodeid = f"tests/pkg{module % 7}/test_mod{module:03d}.py::test_{t}"
            seconds = rng.lognormvariate(-3.9, 1.2)
            if slow_module:
                seconds *= 20
            if rng.random() < 0.01:
                seconds = rng.uniform(1.0, 8.0)
            ids.append(nodeid)
            durations[nodeid] = seconds
        module += 1
    return ids, durations


def balance_ratios(seeds: int, scale: int, cap: int) -> Dict[str, Dict[str, float]]:
    known, unknown, split = [], [], []
    modules = []
    for seed in range(seeds):
        ids, durations = generated_suite(seed, TESTS, scale, cap)
        modules.append(len({n.split("::")[0] for n in ids}))
        slowest, ideal = balance(assign(ids, durations, SHARDS), durations, SHARDS)
        known.append(slowest / ideal)
        slowest, ideal = balance(assign(ids, durations, SHARDS, split_modules=True), durations, SHARDS)
        split.append(slowest / ideal)
        slowest, ideal = balance(assign(ids, {}, SHARDS), durations, SHARDS)
        unknown.append(slowest / ideal)

    def stats(values: List[float], target: float) -> Dict[str, float]:
        return {"median": round(statistics.median(values), 3), "worst": round(max(values), 3),
                "best": round(min(values), 3), "within_target": sum(1 for v in values if v <= target)}

    return {"known": stats(known, 1.15), "unknown": stats(unknown, 1.5), "known_split_modules": stats(split, 1.15),
            "suites": {"count": seeds, "tests": TESTS, "modules_median": statistics.median(modules)}}


SOURCE = "def value(x):\n    if x % 3 == 0:\n        return 'fizz'\n    return x\n\n\ndef never():\n    return 0\n"
TEST_MODULE = "from app.core import value\n\n" + "".join(
    f"\ndef test_{i}():\n    assert value({i}) in ({i}, 'fizz')\n\n" for i in range(10))


def timed_combine(workdir: Path, modules: int = 200) -> Dict[str, float]:
    project = workdir / "svc"
    (project / "app").mkdir(parents=True)
    (project / "tests" / "unit").mkdir(parents=True)
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "app" / "__init__.py").write_text("")
    (project / "app" / "core.py").write_text(SOURCE)
    for m in range(modules):
        (project / "tests" / "unit" / f"test_m{m:02d}.py").write_text(TEST_MODULE)
    cli = [sys.executable, "-m", "async_test_harness.cli"]
    for k in range(1, SHARDS + 1):
        done = subprocess.run([*cli, "run", str(project), "--only", "unit", "--shard", f"{k}/{SHARDS}",
                               "--results-dir", str(workdir / f"shard{k}"), "--", "-p", "no:randomly"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"shard {k} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    began = time.perf_counter()
    done = subprocess.run([*cli, "combine", str(workdir / "combined"),
                           *(str(workdir / f"shard{k}") for k in range(1, SHARDS + 1))], capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"combine failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    summary = json.loads((workdir / "combined" / "summary.json").read_text())
    return {"tests": sum(p["counts"]["total"] for p in summary["passes"].values()),
            "wall_seconds": round(wall, 3), "combine_phase_seconds": summary["phases"]["combine"],
            "coverage_phase_seconds": summary["phases"].get("coverage", 0.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="how many generated suites (default 20)")
    parser.add_argument("--no-combine", action="store_true", help="skip the real combine")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    began = time.perf_counter()
    report: Dict[str, object] = {"balance": {name: balance_ratios(args.seeds, *shape)
                                             for name, shape in SCENARIOS.items()}}
    report["assign_seconds_per_suite"] = round((time.perf_counter() - began) / (2 * args.seeds * len(SCENARIOS)), 4)
    if not args.no_combine:
        workdir = Path(tempfile.mkdtemp(prefix="async-test-shard-bench-"))
        try:
            report["combine"] = timed_combine(workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    scenarios = report["balance"]
    assert isinstance(scenarios, dict)
    for name, b in scenarios.items():
        print(f"{name}: {b['suites']['count']} generated suites of {TESTS} tests (median "
              f"{b['suites']['modules_median']} modules), {SHARDS} shards; slowest shard / ideal:")
        print(f"  durations known    median {b['known']['median']:.3f}  worst {b['known']['worst']:.3f}  "
              f"(target <= 1.15: {b['known']['within_target']} of {b['suites']['count']} suites)")
        print(f"  known, --shard-split-modules  median {b['known_split_modules']['median']:.3f}  worst "
              f"{b['known_split_modules']['worst']:.3f}")
        print(f"  durations unknown  median {b['unknown']['median']:.3f}  worst {b['unknown']['worst']:.3f}  "
              f"(target <= 1.5: {b['unknown']['within_target']} of {b['suites']['count']} suites)")
    print(f"  assignment: {report['assign_seconds_per_suite'] * 1000:.1f} ms per suite")
    if "combine" in report:
        c = report["combine"]
        assert isinstance(c, dict)
        print(f"combine of {SHARDS} folders ({c['tests']} tests): {c['wall_seconds']:.2f} s wall "
              f"(combine phase {c['combine_phase_seconds']:.2f} s, of it coverage {c['coverage_phase_seconds']:.2f} s)")


if __name__ == "__main__":
    main()
