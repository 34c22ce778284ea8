"""What storing and comparing a baseline costs (issue 25), on a 2,000-test suite, without a server.

    python benchmarks/baseline.py [--tests 2000] [--files 200] [--real]

Writes a results folder of the runner's shape (summary.json with per-file coverage, the events file
of a 2,000-test session: set-up, call and teardown of each test, a tenth of them counting SQL
statements), then times, as the action runs them: making the baseline from the folder and writing
it (``store``: the push to the default branch), and reading it back, making the head's, comparing,
writing comparison.json and summary.md's section (``compare``: every pull request). Medians of
seven rounds. The run it is compared with is the same suite's ``async-test run`` at the per-test
cost docs/performance.md measured (0.67 ms for an ``async_db_session`` test, plus pytest's own
~1 ms per test): about 3.5 s for 2,000 tests, faster than any real 2,000-test run, so the share is
an upper bound. ``--real`` runs a real 2,000-test suite (trivial unit tests, coverage on) instead,
times it, and stores and compares its own results folder.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

from async_test_harness.baseline.command import run_compare, store_after_run

RUN_SECONDS_PER_TEST = 0.00175  # 0.67 ms async_db_session overhead + ~1 ms pytest's own per test (performance.md)


def results_folder(root: Path, tests: int, files: int) -> Path:
    """A results folder as `async-test run` writes it, for ``tests`` tests over ``files`` source files."""
    root.mkdir(parents=True)
    lines: List[str] = []
    for i in range(tests):
        nodeid = f"tests/integration/test_m{i % 100:03}.py::test_case_{i}"
        for when in ("setup", "call", "teardown"):
            event: Dict[str, Any] = {"type": "test", "nodeid": nodeid, "when": when, "outcome": "passed",
                                     "duration": 0.001, "kind": "integration" if i % 2 else "unit",
                                     "wasxfail": False}
            if when == "call" and i % 10 == 0:
                event["statements"] = 3 + i % 7
            lines.append(json.dumps(event))
    (root / "events-all.jsonl").write_text("\n".join(lines) + "\n")
    statements = list(range(1, 81))
    file_entries = [{"path": f"app/module_{n:03}.py", "statements": 80, "percent": 87.5,
                     "unit_only": statements[:30], "integration_only": statements[30:50],
                     "both": statements[50:70], "neither": statements[70:]} for n in range(files)]
    figure = {"percent": 87.5, "covered_lines": 70 * files, "statements": 80 * files}
    counts = {"passed": tests // 2, "failed": 0, "errors": 0, "skipped": 0, "xfailed": 0, "xpassed": 0,
              "total": tests // 2}

    def one(kind: str) -> Dict[str, Any]:
        return {"kind": kind, "selected": True, "status": "passed", "exit_code": 0, "duration_seconds": 1.0,
                "counts": counts, "deselected": 0, "failures": [], "slowest": [], "heaviest": [], "warnings": []}

    summary = {
        "schema_version": 1, "tool": {"name": "async-test", "version": "0.1.0"},
        "started_at": "2026-12-06T00:00:00+00:00", "duration_seconds": 3.5,
        "project": {"root": "/w/svc", "repo_root": "/w", "path_in_repo": "svc", "results_dir": str(root)},
        "exit": {"code": 0, "name": "ok", "reason": "all selected tests passed"},
        "environment": {"python": "3.11"}, "phases": {"total": 3.5},
        "passes": {"unit": one("unit"), "integration": one("integration")},
        "coverage": {"unit": figure, "integration": figure, "combined": figure, "files": file_entries,
                     "thresholds": {"unit": None, "integration": None, "combined": None},
                     "below_threshold": [], "error": None},
        "infrastructure_error": None, "files": {},
    }
    (root / "summary.json").write_text(json.dumps(summary))
    (root / "summary.md").write_text("# async-test\n")
    return root


def real_run(root: Path, tests: int) -> Tuple[Path, float]:
    """A real ``async-test run --only unit`` (coverage on) of ``tests`` trivial tests in 100 modules over
    20 source modules: its results folder and its wall time (the denominator of the share)."""
    for n in range(20):
        (root / "src" / "app").mkdir(parents=True, exist_ok=True)
        source = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(20))
        (root / "src" / "app" / f"m{n:02}.py").write_text(source)
    (root / "src" / "app" / "__init__.py").write_text("")
    (root / "tests").mkdir()
    for m in range(100):
        body = f"from app.m{m % 20:02} import *\n\n" + "".join(
            f"def test_{i}():\n    assert f{i % 20}(1) == {1 + i % 20}\n\n" for i in range(tests // 100))
        (root / "tests" / f"test_{m:03}.py").write_text(body)
    (root / "pyproject.toml").write_text('[project]\nname = "bench"\nversion = "0"\n'
                                         '[tool.pytest.ini_options]\npythonpath = ["src"]\n')
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "async_test_harness.cli", "run", str(root), "--only", "unit",
                           "--results-dir", str(root / "results")], capture_output=True, text=True)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"the real run failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return root / "results", elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--real", action="store_true",
                        help="time a real async-test run of the suite (unit pass, coverage on) and store and compare "
                             "its own results folder, instead of a synthetic one against the estimated run time")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="async-test-baseline-bench-"))
    try:
        if args.real:
            results, run = real_run(work / "project", args.tests)
        else:
            results, run = results_folder(work / "results", args.tests, args.files), args.tests * RUN_SECONDS_PER_TEST
        store, compare = [], []
        for i in range(args.rounds):
            began = time.perf_counter()
            # as on a push: reading the previous baseline (its flaky history) is part of storing
            store_after_run(results, work / f"baseline-{i}", lambda _: None,
                            previous=work / f"baseline-{i - 1}" / "baseline.json" if i else None)
            store.append(time.perf_counter() - began)
            began = time.perf_counter()
            run_compare(work / f"baseline-{i}", results, io.StringIO())
            compare.append(time.perf_counter() - began)
        size = (work / "baseline-0" / "baseline.json").stat().st_size
        s, c = statistics.median(store), statistics.median(compare)
        what = "a real run" if args.real else "an estimated run"
        print(f"{args.tests} tests; baseline.json {size / 1024:.0f} KiB; {what}: {run:.1f} s")
        print(f"store (make + write):                 {s * 1000:7.1f} ms  ({100 * s / run:.2f} % of a {run:.1f} s run)")
        print(f"compare (read both, compare, write):  {c * 1000:7.1f} ms  ({100 * c / run:.2f} % of a {run:.1f} s run)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
