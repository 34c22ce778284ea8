"""``async-test run --shard K/N`` and ``async-test combine`` on real runs (issue 16 items 1 and 2).

The proof is a comparison on one generated project: the N shards together run every test exactly
once (their test ids are pairwise disjoint and their union is the unsharded run's), and combining
their results folders gives what the unsharded run gave: the same counts, failures, coverage figures
and covered lines per pass. Thresholds are checked by combine only, and shards that ran in different
folders (another checkout, a container) still combine to the same coverage.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from itertools import combinations
from pathlib import Path
from typing import Dict, List

import pytest

from helpers import assert_summary_round_trip, write_files

APP = '''\
def sign(x):
    if x < 0:
        return "negative"
    return "positive"


def count(rows):
    return len(rows)


def double(x):
    return x * 2


def nobody():
    return "never"
'''

UNIT_MODULE = '''\
from app.core import double, sign


def test_sign_{n}():
    assert sign(-{n}) == "negative"


def test_double_{n}():
    assert double({n}) == {n} * 2
'''

CLASS_SCOPED = '''\
import pytest

from app.core import double

CALLS = []


class TestShared:
    @pytest.fixture(scope="class")
    def shared(self):
        CALLS.append(1)
        return double(21)

    def test_one(self, shared):
        assert shared == 42 and len(CALLS) == 1

    def test_two(self, shared):
        assert shared == 42 and len(CALLS) == 1

    def test_three(self, shared):
        assert shared == 42 and len(CALLS) == 1
'''

FAILING = '''\
from app.core import sign


def test_positive():
    assert sign(1) == "positive"


def test_deliberately_fails():
    assert sign(1) == "negative"
'''

INTEGRATION_MODULE = '''\
import pytest
from sqlalchemy import text

from app.core import count


@pytest.mark.asyncio
async def test_query_{n}(async_db_session):
    rows = (await async_db_session.execute(text("SELECT 1 UNION SELECT 2"))).all()
    assert count(rows) == 2
'''


@pytest.fixture
def env(pg_cluster: str) -> Dict[str, str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("ASYNC_TEST_", "PG", "POSTGRES_", "COVERAGE_", "PYTEST_")) and k != "DATABASE_URL"}
    return dict(clean, ASYNC_TEST_PG_CLUSTER=pg_cluster)


def project_at(root: Path, integration: bool = True, failing: bool = True) -> Path:
    files = {
        "pytest.ini": "[pytest]\nasyncio_mode = strict\n",
        "app/__init__.py": "",
        "app/core.py": APP,
        "tests/unit/test_shared.py": CLASS_SCOPED,
        **{f"tests/unit/test_u{n}.py": UNIT_MODULE.format(n=n) for n in range(1, 5)},
    }
    if failing:
        files["tests/unit/test_failing.py"] = FAILING
    if integration:
        files.update({f"tests/integration/test_db{n}.py": INTEGRATION_MODULE.format(n=n) for n in range(1, 3)})
    return write_files(root, files)


def cli(env: Dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "async_test_harness.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def run(project: Path, env: Dict[str, str], results: Path, *args: str) -> subprocess.CompletedProcess:
    return cli(env, "run", str(project), "--results-dir", str(results), "--cov-source", "app", *args,
               "--", "-p", "no:randomly")


def case_ids(results: Path) -> List[str]:
    """Every test case of both passes' JUnit files (the runner's own record, not the plugin's)."""
    ids = []
    for kind in ("unit", "integration"):
        path = results / f"junit-{kind}.xml"
        if path.exists():
            ids += [f"{c.get('classname')}::{c.get('name')}" for c in ET.parse(path).getroot().iter("testcase")]
    return ids


def covered_lines(data_file: Path) -> Dict[str, list]:
    from coverage import CoverageData

    data = CoverageData(basename=str(data_file))
    data.read()
    return {Path(f).name: sorted(data.lines(f) or []) for f in data.measured_files()}


def comparable(results: Path) -> Dict[str, object]:
    s = json.loads((results / "summary.json").read_text())
    passes = {}
    for kind, p in s["passes"].items():
        passes[kind] = {
            "status": p["status"], "exit_code": p["exit_code"], "counts": p["counts"], "deselected": p["deselected"],
            "failures": sorted((f["nodeid"], f["when"], f["file"], f["line"], f["message"]) for f in p["failures"]),
        }
    return {
        "exit": s["exit"]["code"],
        "passes": passes,
        "coverage": {k: s["coverage"][k] for k in ("unit", "integration", "combined")},
        "files": s["coverage"]["files"],
        "lines": {kind: covered_lines(results / f".coverage.{kind}") for kind in ("unit", "integration")},
        "junit": sorted(case_ids(results)),
    }


def assert_each_test_once(shards: List[List[str]], whole: List[str]) -> None:
    assert len(whole) == len(set(whole))
    for a, b in combinations(range(len(shards)), 2):
        both = set(shards[a]) & set(shards[b])
        assert not both, f"shards {a + 1} and {b + 1} both ran {both}"
    assert sorted(t for part in shards for t in part) == sorted(whole)


def snapshot(folder: Path) -> Dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() + str(p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_three_shards_run_every_test_once_and_combine_to_the_unsharded_results(tmp_path, env):
    project = project_at(tmp_path / "svc")
    whole = run(project, env, tmp_path / "whole")
    assert whole.returncode == 1, whole.stdout[-3000:] + whole.stderr[-2000:]
    shards = []
    for k in (1, 2, 3):
        done = run(project, env, tmp_path / f"shard{k}", "--shard", f"{k}/3")
        assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-2000:]
        assert f"shard       {k}/3 (whole modules" in done.stdout
        s = json.loads((tmp_path / f"shard{k}" / "summary.json").read_text())
        assert s["shard"]["index"] == k and s["shard"]["total"] == 3 and s["shard"]["collected"] == 15
        assert_summary_round_trip(tmp_path / f"shard{k}" / "summary.json")
        shards.append(case_ids(tmp_path / f"shard{k}"))
    assert_each_test_once(shards, case_ids(tmp_path / "whole"))
    assert sum(1 for part in shards if any("TestShared" in t for t in part)) == 1  # class-scoped: one shard

    inputs = [tmp_path / f"shard{k}" for k in (1, 2, 3)]
    before = {str(p): snapshot(p) for p in inputs}
    combined = cli(env, "combine", str(tmp_path / "combined"), *map(str, inputs), "--cov-source", "app")
    assert combined.returncode == 1, combined.stdout[-3000:] + combined.stderr[-2000:]
    assert {str(p): snapshot(p) for p in inputs} == before, "combine changed an input folder"
    a, b = comparable(tmp_path / "whole"), comparable(tmp_path / "combined")
    assert a == b
    assert a["passes"]["unit"]["counts"]["failed"] == 1 and a["passes"]["integration"]["counts"]["passed"] == 2
    # Every shard's passes accounted for every collected test (one session, both passes): no false shortfall.
    assert "did not report" not in json.loads((tmp_path / "combined" / "summary.json").read_text())["exit"]["reason"]
    assert_summary_round_trip(tmp_path / "combined" / "summary.json")
    s = json.loads((tmp_path / "combined" / "summary.json").read_text())
    assert [(r["index"], r["total"]) for r in s["shards"]] == [(1, 3), (2, 3), (3, 3)]
    assert sum(r["tests"] for r in s["shards"]) == 15 and "shard" not in s
    assert "Combined from:" in (tmp_path / "combined" / "summary.md").read_text()
    durations = json.loads((tmp_path / "combined" / "durations.json").read_text())["durations"]
    assert len(durations) == 15
    # Every shard's per-test record reaches the combined folder: its baseline is the unsharded run's (issue 25).
    from async_test_harness.baseline.store import from_results

    tests = [{n: (t.kind, t.outcome, t.statements) for n, t in from_results(folder).tests.items()}
             for folder in (tmp_path / "whole", tmp_path / "combined")]
    assert len(tests[0]) == 15 and tests[0] == tests[1]

    # The next run balances by the durations the combined folder holds: still every test once.
    again = []
    for k in (1, 2, 3):
        done = run(project, env, tmp_path / f"timed{k}", "--shard", f"{k}/3", "--only", "unit",
                   "--durations-file", str(tmp_path / "combined" / "durations.json"))
        assert done.returncode in (0, 1) and "durations known for 15" in done.stdout, done.stdout[-3000:]
        again.append(case_ids(tmp_path / f"timed{k}"))
    assert_each_test_once(again, [t for t in case_ids(tmp_path / "whole") if ".unit." in t])


def test_an_empty_shard_exits_0_and_says_it_had_nothing_to_run(tmp_path, env):
    project = project_at(tmp_path / "svc", integration=False)
    done = run(project, env, tmp_path / "r", "--shard", "9/9", "--only", "unit")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "shard 9/9 had nothing to run" in done.stdout
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert s["exit"]["code"] == 0 and "nothing to run" in s["exit"]["reason"]
    assert {k: v for k, v in s["shard"].items() if k != "fingerprint"} == {
        "index": 9, "total": 9, "selected": 0, "collected": 13}
    assert len(s["shard"]["fingerprint"]) == 16


@pytest.mark.parametrize(("shard", "why"), [("0/3", "numbered from 1"), ("4/3", "only 3 shard(s)"),
                                            ("a/b", "not two whole numbers")])
def test_a_bad_shard_is_a_usage_error(tmp_path, env, shard, why):
    done = run(tmp_path, env, tmp_path / "r", "--shard", shard)
    assert done.returncode == 2
    assert why in done.stderr and "1 <= K <= N" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_thresholds_are_checked_by_combine_and_shards_from_other_folders_combine(tmp_path, env):
    here = project_at(tmp_path / "here" / "svc", integration=False, failing=False)
    there = tmp_path / "elsewhere" / "checkout" / "svc"
    shutil.copytree(here, there)
    whole = run(here, env, tmp_path / "whole", "--only", "unit")
    assert whole.returncode == 0, whole.stdout[-3000:]
    one = run(here, env, tmp_path / "s1", "--only", "unit", "--shard", "1/2", "--fail-under", "100")
    two = run(there, env, tmp_path / "s2", "--only", "unit", "--shard", "2/2", "--fail-under", "100")
    for done in (one, two):  # coverage is below 100% (nobody() never runs), yet a shard's exit ignores it
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        assert "not checked in a shard run" in done.stdout
    assert_each_test_once([case_ids(tmp_path / "s1"), case_ids(tmp_path / "s2")], case_ids(tmp_path / "whole"))

    missing = cli(env, "combine", str(tmp_path / "part"), str(tmp_path / "s1"))
    assert missing.returncode == 2 and "2/2 are missing" in missing.stderr
    assert not (tmp_path / "part").exists()

    done = cli(env, "combine", str(tmp_path / "combined"), str(tmp_path / "s1"), str(tmp_path / "s2"), "--html",
               cwd=tmp_path)
    assert done.returncode == 4, done.stdout[-3000:] + done.stderr[-2000:]
    s = json.loads((tmp_path / "combined" / "summary.json").read_text())
    assert s["exit"]["reason"].startswith("combined coverage") and s["coverage"]["thresholds"]["combined"] == 100
    assert (tmp_path / "combined" / "html" / "index.html").exists()
    # The second shard measured .../elsewhere/checkout/svc/app/core.py: mapped onto this project's file.
    whole_lines = covered_lines(tmp_path / "whole" / ".coverage.unit")
    assert covered_lines(tmp_path / "combined" / ".coverage.unit") == whole_lines and "core.py" in whole_lines
    from coverage import CoverageData

    data = CoverageData(basename=str(tmp_path / "combined" / ".coverage.unit"))
    data.read()
    assert all(str(tmp_path / "here") in f for f in data.measured_files()), sorted(data.measured_files())
    s_whole = json.loads((tmp_path / "whole" / "summary.json").read_text())
    assert s["coverage"]["unit"] == s_whole["coverage"]["unit"]
    assert s["coverage"]["combined"] == s_whole["coverage"]["combined"]

    # A lower minimum given to combine wins over the recorded one.
    ok = cli(env, "combine", str(tmp_path / "combined"), str(tmp_path / "s1"), str(tmp_path / "s2"),
             "--fail-under", "50")
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-2000:]


def test_combine_refuses_to_write_into_an_input_or_a_foreign_folder(tmp_path, env):
    project = project_at(tmp_path / "svc", integration=False, failing=False)
    for k in (1, 2):
        assert run(project, env, tmp_path / f"s{k}", "--only", "unit", "--shard", f"{k}/2").returncode == 0
    before = snapshot(tmp_path / "s1")
    into_input = cli(env, "combine", str(tmp_path / "s1"), str(tmp_path / "s1"), str(tmp_path / "s2"))
    assert into_input.returncode == 2 and "inputs are never written to" in into_input.stderr
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "notes.md").write_text("mine")
    refused = cli(env, "combine", str(foreign), str(tmp_path / "s1"), str(tmp_path / "s2"))
    assert refused.returncode == 2 and "holds files async-test did not write" in refused.stderr
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.md"]
    not_results = cli(env, "combine", str(tmp_path / "out"), str(tmp_path / "s1"), str(tmp_path / "svc"))
    assert not_results.returncode == 2 and "is not a finished run's results folder" in not_results.stderr
    assert snapshot(tmp_path / "s1") == before


def test_a_shard_is_the_same_in_one_session_in_two_processes_and_under_xdist(tmp_path, env):
    """The plugin selects inside every pytest process (each pass's, each xdist worker's) alike."""
    project = project_at(tmp_path / "svc")
    seen = []
    for name, args in (("session", ()), ("separate", ("--separate-passes",)),
                       ("xdist", ("--unit-args", "-n 2", "--integration-args", "-n 2"))):
        done = run(project, env, tmp_path / name, "--shard", "2/3", *args)
        assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-2000:]
        seen.append(sorted(case_ids(tmp_path / name)))
        s = json.loads((tmp_path / name / "summary.json").read_text())
        if s["shard"]["collected"] is not None:  # what combine checks: each pass accounts for every collected test
            for p in s["passes"].values():
                assert p["counts"]["total"] + p["deselected"] >= s["shard"]["collected"], (name, p)
    assert seen[0] and seen[0] == seen[1] == seen[2]


def test_a_collection_error_every_shard_reports_is_counted_once(tmp_path, env):
    project = project_at(tmp_path / "svc", integration=False, failing=False)
    (project / "tests" / "unit" / "test_broken.py").write_text("def test_x(:\n    pass\n")
    whole = run(project, env, tmp_path / "whole", "--only", "unit")
    for k in (1, 2):
        done = run(project, env, tmp_path / f"s{k}", "--only", "unit", "--shard", f"{k}/2")
        assert done.returncode == 1, done.stdout[-3000:]
    combined = cli(env, "combine", str(tmp_path / "combined"), str(tmp_path / "s1"), str(tmp_path / "s2"))
    assert whole.returncode == combined.returncode == 1, combined.stdout[-3000:] + combined.stderr[-2000:]
    a, b = comparable(tmp_path / "whole"), comparable(tmp_path / "combined")
    assert a["passes"] == b["passes"] and a["junit"] == b["junit"]
    assert a["passes"]["unit"]["counts"]["errors"] == 1 and len(a["passes"]["unit"]["failures"]) == 1


def test_a_broken_durations_file_is_refused_before_anything_runs(tmp_path, env):
    project = project_at(tmp_path / "svc", integration=False)
    (project / ".async-test-durations.json").write_text("{not json")
    done = run(project, env, tmp_path / "r", "--only", "unit", "--shard", "1/2")
    assert done.returncode == 2 and ".async-test-durations.json is not JSON" in done.stdout, done.stdout[-2000:]
    assert not (tmp_path / "r" / "summary.json").exists()
    missing = run(project, env, tmp_path / "r", "--only", "unit", "--shard", "1/2", "--durations-file", "nope.json")
    assert missing.returncode == 2 and "--durations-file nope.json: no such file" in missing.stdout


def test_a_project_without_tests_still_exits_5_when_sharded(tmp_path, env):
    project = write_files(tmp_path / "svc", {"pytest.ini": "[pytest]\n", "app/__init__.py": "",
                                             "tests/unit/test_nothing.py": "X = 1\n"})
    done = run(project, env, tmp_path / "r", "--only", "unit", "--shard", "1/2")
    assert done.returncode == 5, done.stdout[-2000:]
    assert "nothing to run" not in done.stdout


# ------------------------------------------------------------------ issue 22 items 4 and 5: combine on real shards


EXITS = '''\
import os

from app.core import double


def test_before():
    assert double(1) == 2


def test_ends_the_process():
    os._exit(0)
'''


def test_a_test_that_ends_its_shard_process_fails_its_shard_and_the_combine(tmp_path, env):
    """The shard holding os._exit(0) said "had nothing to run" (exit 0); combine reported 4 of 8 tests and
    exited 0. Now the shard names the test that did not report (exit 1) and combine carries it (exit 1).
    Combine's own arithmetic on shards that lost tests silently (older harness, xdist) is
    tests/unit/test_combine_inputs.py's."""
    project = project_at(tmp_path / "svc", integration=False, failing=False)
    (project / "tests" / "unit" / "test_exits.py").write_text(EXITS)
    codes = {k: run(project, env, tmp_path / f"s{k}", "--only", "unit", "--shard", f"{k}/2").returncode for k in (1, 2)}
    summaries = {k: json.loads((tmp_path / f"s{k}" / "summary.json").read_text()) for k in (1, 2)}
    holder = [k for k, s in summaries.items()
              if any(f["when"] == "unreported" for f in s["passes"]["unit"]["failures"])]
    assert len(holder) == 1, summaries
    assert codes[holder[0]] == 1 and "did not report" in summaries[holder[0]]["exit"]["reason"]
    assert summaries[holder[0]]["passes"]["unit"]["counts"]["total"] == summaries[holder[0]]["shard"]["selected"]
    done = cli(env, "combine", str(tmp_path / "combined"), str(tmp_path / "s1"), str(tmp_path / "s2"))
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    s = json.loads((tmp_path / "combined" / "summary.json").read_text())
    lost = [f["nodeid"] for f in s["passes"]["unit"]["failures"] if f["when"] == "unreported"]
    in_shard = [f["nodeid"] for f in summaries[holder[0]]["passes"]["unit"]["failures"] if f["when"] == "unreported"]
    assert s["exit"]["code"] == 1 and "tests/unit/test_exits.py::test_ends_the_process" in lost, s["passes"]["unit"]
    assert sorted(lost) == sorted(in_shard)  # the tests after it in that shard's process are lost too
    assert s["passes"]["unit"]["counts"]["total"] == summaries[1]["shard"]["collected"]
    assert "Traceback" not in done.stdout + done.stderr


def test_combine_refuses_or_records_hostile_inputs_and_never_half_writes_its_folder(tmp_path, env):
    project = project_at(tmp_path / "svc", integration=False, failing=False)
    for k in (1, 2):
        assert run(project, env, tmp_path / f"s{k}", "--only", "unit", "--shard", f"{k}/2").returncode == 0
    assert run(project, env, tmp_path / "whole", "--only", "unit").returncode == 0
    out = tmp_path / "combined"
    good = cli(env, "combine", str(out), str(tmp_path / "s1"), str(tmp_path / "s2"))
    assert good.returncode == 0, good.stdout[-3000:] + good.stderr[-2000:]
    assert "did not report" not in json.loads((out / "summary.json").read_text())["exit"]["reason"]
    before = snapshot(out)

    # Two copies of one whole run: refused (exit 2), never doubled counts, the folder untouched.
    shutil.copytree(tmp_path / "whole", tmp_path / "copy")
    twice = cli(env, "combine", str(out), str(tmp_path / "whole"), str(tmp_path / "copy"))
    assert twice.returncode == 2 and "would be counted twice" in twice.stderr, twice.stdout[-2000:] + twice.stderr
    # Shards of two projects with the same N: refused by what they collected.
    other = project_at(tmp_path / "other", integration=False, failing=True)
    (other / "tests" / "unit" / "test_u1.py").unlink()
    assert run(other, env, tmp_path / "o2", "--only", "unit", "--shard", "2/2").returncode in (0, 1)
    mixed = cli(env, "combine", str(out), str(tmp_path / "s1"), str(tmp_path / "o2"))
    assert mixed.returncode == 2 and "not parts of one suite" in mixed.stderr, mixed.stdout[-2000:] + mixed.stderr
    # A summary.json that is a FIFO: refused at once (it hung), not waited on.
    shutil.copytree(tmp_path / "s2", tmp_path / "fifo")
    (tmp_path / "fifo" / "summary.json").unlink()
    os.mkfifo(tmp_path / "fifo" / "summary.json")
    fifo = cli(env, "combine", str(out), str(tmp_path / "s1"), str(tmp_path / "fifo"))
    assert fifo.returncode == 2 and "is a FIFO" in fifo.stderr
    for done in (twice, mixed, fifo):
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stdout + done.stderr
    assert snapshot(out) == before, "a refused combine changed the combined folder"

    # A truncated JUnit file and unreadable coverage data: exit 3, recorded, the rest combined, no traceback.
    shutil.copytree(tmp_path / "s2", tmp_path / "damaged")
    junit = tmp_path / "damaged" / "junit-unit.xml"
    junit.write_bytes(junit.read_bytes()[:len(junit.read_bytes()) // 2])
    (tmp_path / "damaged" / ".coverage.unit").write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    damaged = cli(env, "combine", str(out), str(tmp_path / "s1"), str(tmp_path / "damaged"))
    assert damaged.returncode == 3, damaged.stdout[-3000:] + damaged.stderr[-2000:]
    assert "Traceback" not in damaged.stdout + damaged.stderr and "ParseError" not in damaged.stdout
    s = json.loads((out / "summary.json").read_text())
    assert s["exit"]["code"] == 3 and s["infrastructure_error"]["phase"] == "combine"
    message = s["infrastructure_error"]["message"]
    assert "junit-unit.xml cannot be read" in message and ".coverage.unit cannot be read" in message
    assert s["coverage"]["unit"] is None and s["coverage"]["combined"] is None  # never a figure silently too low
    assert s["passes"]["unit"]["counts"]["total"] == 11  # the summaries' counts still add up
    assert_summary_round_trip(out / "summary.json")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".combined.")], "a temporary folder left"
