"""Is ``--affected`` safe, and what does it save? (issue 26). Mutation testing of the selection.

For each project (the example service, and a generated service: a 20-table model, eight domain
modules, unit and integration tests), in a throw-away git repository:

1. the base commit runs with ``--record-map`` (the map) and, alternately, without it: the cost of
   recording, as the median ratio of paired rounds;
2. single-line mutations of lines the base run covered (an operator flipped, a constant changed, a
   statement replaced by ``pass``), one at a time, uncommitted, as a change against the base: for each,
   ``async-test run --affected BASE`` and the full suite (``async-test run``), both ``--no-coverage``.

Reported: **recall** (of the mutations the full suite catches, the share the selection also
catches: target 100 %), the same per failing test (every test the full suite fails, the selection ran
and failed), the median share of tests the selection ran (target <= 25 % for a one-file change), and
the wall time of the selection against the full suite. Nothing here asserts a time.

    python benchmarks/affected.py             # 25 mutations per project (50 in all), 3 cost rounds
    python benchmarks/affected.py --quick     # 3 mutations of the example service, 1 cost round (CI)
    python benchmarks/affected.py --json      # one JSON document instead of the table
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from service_project import MODEL, MODELS, PARENT, TABLES  # noqa: E402

DOMAINS = 8
DOMAIN = '''\
from sqlalchemy import func, select

from app import models

RATE = {rate}


def price(amount, quantity):
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    return amount * quantity + RATE


def label(name):
    cleaned = name.strip()
    return cleaned.upper() + "-{d}"


async def add(session, name, amount):
    row = models.Table{d}(name=label(name), amount=amount)
    session.add(row)
    await session.flush()
    return row.id


async def total(session):
    value = await session.scalar(select(func.coalesce(func.sum(models.Table{d}.amount), 0)))
    return int(value)
'''
UNIT = '''\
import pytest

from app.domain_{d} import label, price


@pytest.mark.parametrize("quantity", range(1, 6))
def test_price(quantity):
    assert price(10, quantity) == 10 * quantity + {rate}


def test_price_needs_a_quantity():
    with pytest.raises(ValueError):
        price(1, 0)


def test_label():
    assert label(" a ") == "A-{d}"
'''
INTEGRATION = '''\
from app.domain_{d} import add, total


async def test_add_and_total(async_db_session):
    await add(async_db_session, "x", 5)
    await add(async_db_session, "y", 7)
    assert await total(async_db_session) == 12


async def test_label_is_stored(async_db_session):
    from sqlalchemy import select

    from app import models

    await add(async_db_session, " z ", 1)
    assert await async_db_session.scalar(select(models.Table{d}.name)) == "Z-{d}"
'''


def generated(root: Path) -> Path:
    models = MODELS + "".join(MODEL.format(i=i, parent=PARENT.format(p=i - 1) if i else "") for i in range(TABLES))
    files = {
        "pytest.ini": "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = session\n"
                      "asyncio_default_test_loop_scope = session\npythonpath = src\ntestpaths = tests\n",
        "pyproject.toml": '[tool.async-test]\nmetadata = "app.models:Base.metadata"\n',
        "src/app/__init__.py": "", "src/app/models.py": models,
    }
    for d in range(DOMAINS):
        files[f"src/app/domain_{d}.py"] = DOMAIN.format(d=d, rate=d + 2)
        files[f"tests/unit/test_domain_{d}.py"] = UNIT.format(d=d, rate=d + 2)
        files[f"tests/integration/test_db_domain_{d}.py"] = INTEGRATION.format(d=d)  # basenames must differ
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def example(root: Path) -> Path:
    shutil.copytree(ROOT / "examples" / "service" / "backend", root, dirs_exist_ok=True)
    return root


PROJECTS = {"example service": example, "generated service (20 tables, 8 domains)": generated}


# ------------------------------------------------------------------ running


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.email=b@e", "-c", "user.name=b", *args],
                          check=True, capture_output=True, text=True).stdout


def run(project: Path, results: Path, env: Dict[str, str], *args: str) -> Tuple[float, int, Dict[str, Any]]:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "async_test_harness.cli", "run", str(project), "--results-dir",
                           str(results), *args, "--", "-p", "no:randomly"], env=env, capture_output=True, text=True)
    took = time.perf_counter() - began
    try:
        summary = json.loads((results / "summary.json").read_text())
    except (OSError, ValueError):
        sys.exit(f"no summary from {args}: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return took, done.returncode, summary


def failed(summary: Dict[str, Any]) -> List[str]:
    return sorted(f["nodeid"] for p in summary["passes"].values() for f in p["failures"])


def total_tests(summary: Dict[str, Any]) -> int:
    return sum(p["counts"]["total"] for p in summary["passes"].values())


# ------------------------------------------------------------------ mutations

FLIPS = [(" + ", " - "), (" - ", " + "), (" * ", " + "), (" == ", " != "), (" != ", " == "), (" <= ", " < "),
         (" < ", " <= "), (" >= ", " > "), (" > ", " >= "), (" and ", " or "), (" or ", " and "),
         (" is ", " is not "), ("not ", "")]


def mutants(line: str) -> List[Tuple[str, str]]:
    """(kind, mutated line) candidates for one source line."""
    found = []
    for old, new in FLIPS:
        if old in line:
            found.append(("operator", line.replace(old, new, 1)))
            break
    number = re.search(r"(?<![\w.])(\d+)(?![\w.])", line)
    if number:
        value = int(number.group(1))
        found.append(("constant", line[:number.start()] + str(value + 1) + line[number.end():]))
    string = re.search(r'"([^"\\{}]*)"', line)
    if string and not line.lstrip().startswith(("@", "from ", "import ")):
        found.append(("constant", line[:string.start()] + f'"{string.group(1)}X"' + line[string.end():]))
    if "True" in line:
        found.append(("constant", line.replace("True", "False", 1)))
    stripped = line.strip()
    if stripped and not stripped.endswith(":") and not stripped.startswith(("def ", "class ", "@", "return", "raise",
                                                                              "else", "elif", "except", "finally")):
        found.append(("statement removed", line[:len(line) - len(line.lstrip())] + "pass"))
    return found


def simple_statement_lines(source: str) -> set:
    """Lines that are a whole statement on their own (a mutation there keeps the file's structure)."""
    lines = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.stmt) and node.end_lineno == node.lineno:
            lines.add(node.lineno)
        if isinstance(node, (ast.If, ast.While)) and node.test.end_lineno == node.lineno:
            lines.add(node.lineno)
    return lines


def candidates(repo: Path, base: Path, project: Path) -> List[Tuple[str, int, str, str]]:
    """(file, line, kind, mutated line) for lines the base run covered, in the project's sources."""
    from coverage import CoverageData

    data = CoverageData(basename=str(base / ".coverage"))
    data.read()
    found = []
    for measured in sorted(data.measured_files()):
        path = Path(measured)
        rel = path.relative_to(repo).as_posix()
        if "/tests/" in f"/{rel}" or path.name.startswith("test_") or path.name == "conftest.py":
            continue
        text = path.read_text()
        source_lines = text.splitlines()
        whole = simple_statement_lines(text)
        for number in sorted(data.lines(measured) or []):
            if number not in whole:
                continue
            for kind, mutated in mutants(source_lines[number - 1]):
                changed = [*source_lines[:number - 1], mutated, *source_lines[number:]]
                try:
                    ast.parse("\n".join(changed))
                except SyntaxError:
                    continue
                found.append((rel, number, kind, mutated))
    return found


def apply(repo: Path, rel: str, number: int, mutated: str) -> str:
    path = repo / rel
    original = path.read_text()
    lines = original.split("\n")
    lines[number - 1] = mutated
    path.write_text("\n".join(lines))
    return original


# ------------------------------------------------------------------ the benchmark


def bench(name: str, make: Any, mutations: int, rounds: int, env: Dict[str, str], work: Path,
          seed: int) -> Dict[str, Any]:
    repo = work / name.split()[0]
    repo.mkdir()
    project = make(repo)
    git(repo, "init", "-q")
    (repo / ".gitignore").write_text("results/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    base, plain, head, full = (work / f"{repo.name}-{n}" for n in ("base", "plain", "head", "full"))
    recorded, normal = [], []
    for i in range(rounds):  # alternating, so drift hits both alike; the first of each warms caches
        order = [("map", base), ("plain", plain)] if i % 2 == 0 else [("plain", plain), ("map", base)]
        for kind, folder in order:
            took, rc, summary = run(project, folder, env, *(["--record-map"] if kind == "map" else []))
            assert rc == 0, (kind, summary["exit"])
            (recorded if kind == "map" else normal).append(took)
    ratios = [m / p for m, p in zip(recorded, normal)]
    testmap_size = (base / "testmap.json").stat().st_size
    everything = total_tests(summary)
    pool = candidates(repo, base, project)
    rng = random.Random(seed)
    rng.shuffle(pool)
    rows = []
    for rel, number, kind, mutated in pool[:mutations]:
        original = apply(repo, rel, number, mutated)
        try:
            sel_time, sel_rc, sel = run(project, head, env, "--affected", str(base), "--no-coverage")
            full_time, full_rc, whole = run(project, full, env, "--no-coverage")
        finally:
            (repo / rel).write_text(original)
        info = sel.get("affected") or {}
        ran = total_tests(sel)
        rows.append({
            "file": rel, "line": number, "kind": kind, "mutated": mutated.strip(),
            # caught: the run did not pass (a failing test, a module or conftest that no longer imports: exit 1,
            # 2, or a schema that no longer builds: 3); 5 is "no tests", nothing failed
            "full_caught": full_rc not in (0, 5), "selection_caught": sel_rc not in (0, 5),
            "full_failed": failed(whole), "selection_failed": failed(sel),
            "ran": ran, "of": everything, "run_all": bool(info.get("run_all")), "reason": info.get("reason"),
            "selection_seconds": round(sel_time, 2), "full_seconds": round(full_time, 2),
        })
    caught = [r for r in rows if r["full_caught"]]
    missed = [r for r in caught if not r["selection_caught"]]
    failing = sum(len(r["full_failed"]) for r in caught)
    failing_missed = sum(len(set(r["full_failed"]) - set(r["selection_failed"])) for r in caught)
    shares = [r["ran"] / r["of"] for r in rows if r["of"]]
    return {
        "project": name, "tests": everything, "mutations": len(rows), "candidates": len(pool),
        "caught_by_full_suite": len(caught), "caught_by_selection": len(caught) - len(missed),
        "recall": round((len(caught) - len(missed)) / len(caught), 4) if caught else None,
        "failing_tests_recall": round((failing - failing_missed) / failing, 4) if failing else None,
        "missed": missed,
        "median_share_run": round(statistics.median(shares), 4) if shares else None,
        "fell_back_to_full": sum(1 for r in rows if r["run_all"]),
        "median_selection_seconds": round(statistics.median(r["selection_seconds"] for r in rows), 2) if rows else None,
        "median_full_seconds": round(statistics.median(r["full_seconds"] for r in rows), 2) if rows else None,
        "record_map_ratio": {"median": round(statistics.median(ratios), 3), "min": round(min(ratios), 3),
                             "max": round(max(ratios), 3), "rounds": len(ratios)},
        "record_map_seconds": round(statistics.median(recorded), 2),
        "plain_seconds": round(statistics.median(normal), 2),
        "testmap_bytes": testmap_size,
        "rows": rows,
    }


def cost(env: Dict[str, str], work: Path, rounds: int, tests: int) -> Dict[str, Any]:
    """What --record-map costs on a larger suite (benchmarks/service_project.py: half unit, half integration)."""
    from service_project import generate

    repo = work / "cost"
    repo.mkdir()
    project = generate(repo, unit=tests // 2, integration=tests // 2)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    recorded, normal = [], []
    for i in range(rounds):
        order = ["map", "plain"] if i % 2 == 0 else ["plain", "map"]
        for kind in order:
            took, rc, summary = run(project, work / f"cost-{kind}", env, *(["--record-map"] if kind == "map" else []))
            assert rc == 0, (kind, summary["exit"])
            (recorded if kind == "map" else normal).append(took)
    ratios = [m / p for m, p in zip(recorded, normal)]
    return {"tests": total_tests(summary), "rounds": rounds, "ratio_median": round(statistics.median(ratios), 3),
            "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3),
            "record_map_seconds": round(statistics.median(recorded), 2),
            "plain_seconds": round(statistics.median(normal), 2),
            "testmap_bytes": (work / "cost-map" / "testmap.json").stat().st_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 mutations of the example service, 1 cost round")
    parser.add_argument("--mutations", type=int, default=25, help="per project (default 25: 50 in all)")
    parser.add_argument("--rounds", type=int, default=3, help="paired rounds measuring what --record-map costs")
    parser.add_argument("--seed", type=int, default=26)
    parser.add_argument("--cost-tests", type=int, default=600,
                        help="the suite the cost of --record-map is measured on as well (0: skip; --quick skips)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--only", choices=["example", "generated", "cost"],
                        help="one of the two projects, or only the cost of --record-map on the larger suite")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="async-test-affected-"))
    work.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ASYNC_TEST_", "PG", "POSTGRES_", "COVERAGE_", "PYTEST_")) and k != "DATABASE_URL"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    cluster = work / "cluster" / "data"
    subprocess.run([sys.executable, "-m", "async_test_harness.cli", "init-cluster", str(cluster)], check=True,
                   capture_output=True)
    (work / "cluster").chmod(0o755)
    env["ASYNC_TEST_PG_CLUSTER"] = str(cluster)
    projects = dict(list(PROJECTS.items())[:1]) if args.quick else PROJECTS
    if args.only:
        projects = {k: v for k, v in projects.items() if k.startswith(args.only)}
    if args.only in ("example", "generated"):
        args.cost_tests = 0
    mutations, rounds = (3, 1) if args.quick else (args.mutations, args.rounds)
    try:
        report = []
        for name, make in projects.items():
            report.append(bench(name, make, mutations, rounds, env, work, args.seed))
            print(f"done: {name}: recall {report[-1]['recall']}, median share {report[-1]['median_share_run']}",
                  file=sys.stderr, flush=True)  # a long run shows progress, and what it found so far
        costs = cost(env, work, rounds, args.cost_tests) if args.cost_tests and not args.quick else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps({"projects": report, "record_map_cost": costs}, indent=2))
        return
    print("| project | tests | mutations (caught by the full suite) | recall | failing-test recall | median share run "
          "| fell back | selection / full (median s) | --record-map cost | map size |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in report:
        ratio = r["record_map_ratio"]
        print(f"| {r['project']} | {r['tests']} | {r['mutations']} ({r['caught_by_full_suite']}) | "
              f"{pct(r['recall'])} | {pct(r['failing_tests_recall'])} | {pct(r['median_share_run'])} | "
              f"{r['fell_back_to_full']} | {r['median_selection_seconds']} / {r['median_full_seconds']} | "
              f"{ratio['median']:.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f}, {ratio['rounds']} rounds) | "
              f"{r['testmap_bytes'] / 1024:.1f} KiB |")
    if costs:
        print(f"\n--record-map on {costs['tests']} tests: {costs['ratio_median']:.2f}x a normal run "
              f"({costs['ratio_min']:.2f}-{costs['ratio_max']:.2f}, {costs['rounds']} paired rounds; "
              f"{costs['record_map_seconds']} s / {costs['plain_seconds']} s), "
              f"map {costs['testmap_bytes'] / 1024:.0f} KiB")
    for r in report:
        for m in r["missed"]:
            print(f"MISSED in {r['project']}: {m['file']}:{m['line']} {m['kind']}: {m['mutated']}")


def pct(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


if __name__ == "__main__":
    main()
