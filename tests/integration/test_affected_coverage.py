"""Coverage carried forward from the base's map in an ``--affected`` run (issue 26, Codecov's carryforward).

Differential: on the same work tree, the full suite and the affected run must report the same coverage,
file by file and figure by figure, when the change does not alter coverage: the files no selected test
touched come whole from the map, a file both selected and left-out tests touched gets the union, and a
changed file is measured, never carried. The thresholds are then checked on the carried totals.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict

import pytest
from test_affected_run import CORE, DB_TEST, coverage_of, run

from helpers import assert_summary_round_trip, commit_all, write_files

SHARED = '''\
def first(x):
    y = x + 1
    return y


def second(x):
    y = x - 1
    if y > 100:
        return 0
    return y
'''

OTHER = '''\
from app.shared import first


def double(x):
    return first(x) * 2 - 2
'''

FILES = {
    "pytest.ini": "[pytest]\nasyncio_mode = strict\n",
    "app/__init__.py": "",
    "app/core.py": CORE,
    "app/shared.py": SHARED,
    "app/other.py": OTHER,
    "app/unused.py": "def never():\n    return 1\n",
    "tests/unit/test_sign.py": ("from app.core import sign\n\n\n"
                                "def test_negative():\n    assert sign(-1) == 'negative'\n"),
    "tests/unit/test_double.py": ("from app.other import double\n\n\n"
                                  "def test_double():\n    assert double(2) == 4\n"),
    "tests/unit/test_second.py": ("from app.shared import second\n\n\n"
                                  "def test_second():\n    assert second(3) == 2\n"),
    "tests/integration/test_db.py": DB_TEST,
}


@pytest.fixture
def env(pg_cluster: str) -> Dict[str, str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("ASYNC_TEST_", "PG", "POSTGRES_", "COVERAGE_", "PYTEST_")) and k != "DATABASE_URL"}
    return dict(clean, ASYNC_TEST_PG_CLUSTER=pg_cluster)


def carried(results: Path) -> set:
    return {f["path"] for f in json.loads((results / "summary.json").read_text())["coverage"]["files"]
            if f.get("carried_forward")}


@pytest.fixture
def recorded(tmp_path: Path, env: Dict[str, str]) -> Dict[str, Path]:
    repo = write_files(tmp_path / "repo", FILES)
    commit_all(repo)
    baseline = tmp_path / "baseline"
    done = run(repo, env, tmp_path / "base", "--record-map", "--baseline", str(baseline))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return {"repo": repo, "baseline": baseline}


def test_carried_forward_coverage_equals_the_full_suite(tmp_path: Path, env: Dict[str, str],
                                                        recorded: Dict[str, Path]) -> None:
    repo, baseline = recorded["repo"], recorded["baseline"]
    # a change inside double() that does not alter coverage: test_double alone runs (it calls shared.first)
    (repo / "app/other.py").write_text(OTHER.replace("return first(x) * 2 - 2", "return 2 * first(x) - 2"))
    full, head = tmp_path / "full", tmp_path / "head"
    done = run(repo, env, full)
    assert done.returncode == 0, done.stdout[-3000:]
    done = run(repo, env, head, "--affected", str(baseline))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    summary = json.loads((head / "summary.json").read_text())
    assert summary["affected"]["selected"] == 1 and summary["affected"]["collected"] == 4
    # field by field, every file and every figure: what the full suite reports on the same tree
    assert coverage_of(head) == coverage_of(full)
    # core.py (only left-out tests ran it) whole from the map; shared.py (test_double ran first(), the
    # left-out test_second ran second()): the union; other.py changed: measured
    assert carried(head) == {"app/core.py", "app/shared.py"}
    assert summary["affected"]["carried_forward_files"] == 2 and summary["affected"]["coverage_carried"] is True
    commit = json.loads((baseline / "testmap.json").read_text())["base_commit"][:7]
    line = f"coverage: 2 files carried forward from the baseline ({commit})"
    assert summary["affected"]["coverage_line"] == line
    assert f"affected: {line}" in done.stdout
    assert line in (head / "summary.md").read_text()
    assert_summary_round_trip(head / "summary.json")


def test_thresholds_are_checked_on_the_carried_totals(tmp_path: Path, env: Dict[str, str],
                                                      recorded: Dict[str, Path]) -> None:
    repo, baseline = recorded["repo"], recorded["baseline"]
    (repo / "app/other.py").write_text(OTHER.replace("return first(x) * 2 - 2", "return 2 * first(x) - 2"))
    head = tmp_path / "head"
    done = run(repo, env, head, "--affected", str(baseline), "--fail-under", "99")
    assert done.returncode == 4, done.stdout[-3000:] + done.stderr[-2000:]
    summary = json.loads((head / "summary.json").read_text())
    combined = summary["coverage"]["combined"]["percent"]
    assert combined < 99 and summary["coverage"]["thresholds"]["combined"] == 99
    assert "thresholds checked on the carried-forward totals (combined)" in summary["affected"]["coverage_line"]
    # a threshold the carried total meets, which the tests that ran alone would miss, passes
    limit = f"{combined - 0.5:.1f}"
    done = run(repo, env, head, "--affected", str(baseline), "--fail-under", limit)
    assert done.returncode == 0, done.stdout[-3000:]


def test_a_modified_file_gets_its_left_out_lines_moved_with_the_diff(tmp_path: Path, env: Dict[str, str],
                                                                    recorded: Dict[str, Path]) -> None:
    repo, baseline = recorded["repo"], recorded["baseline"]
    # a line added inside first(): test_double runs; second() (test_second, left out) moves down one line.
    # Its lines are carried at their new numbers, so shared.py keeps the suite's figure: carried whole it
    # read 7, 8, 10 as not run (a trial: a one-line change failed a threshold the full suite met).
    (repo / "app/shared.py").write_text(SHARED.replace("    y = x + 1\n", "    z = x\n    y = z + 1\n"))
    full, head = tmp_path / "full", tmp_path / "head"
    assert run(repo, env, full).returncode == 0
    done = run(repo, env, head, "--affected", str(baseline))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert json.loads((head / "summary.json").read_text())["affected"]["selected"] == 1
    assert "app/shared.py" in carried(head) and "app/core.py" in carried(head)
    assert coverage_of(head) == coverage_of(full)  # every file and figure, shared.py's moved lines included


def test_a_map_without_line_data_keeps_the_run_figures_and_says_why(tmp_path: Path, env: Dict[str, str],
                                                                   recorded: Dict[str, Path]) -> None:
    repo, baseline = recorded["repo"], recorded["baseline"]
    old = json.loads((baseline / "testmap.json").read_text())
    old.pop("line_data")
    old.pop("kinds")
    for entry in old["files"].values():
        entry.pop("lines")
    (baseline / "testmap.json").write_text(json.dumps(old))
    (repo / "app/other.py").write_text(OTHER.replace("return first(x) * 2 - 2", "return 2 * first(x) - 2"))
    head = tmp_path / "head"
    done = run(repo, env, head, "--affected", str(baseline), "--fail-under", "99")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    summary = json.loads((head / "summary.json").read_text())
    assert summary["affected"]["selected"] == 1
    assert summary["affected"]["coverage_carried"] is False and not carried(head)
    assert summary["coverage"]["thresholds"]["combined"] is None
    assert "coverage not carried forward: the base's map has no line data" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_one_pass_or_a_shard_is_not_carried_forward(tmp_path: Path, env: Dict[str, str],
                                                    recorded: Dict[str, Path]) -> None:
    repo, baseline = recorded["repo"], recorded["baseline"]
    (repo / "app/other.py").write_text(OTHER.replace("return first(x) * 2 - 2", "return 2 * first(x) - 2"))
    for args, why in ((["--only", "unit"], "--only unit runs one pass"),
                      (["--shard", "1/2"], "a shard's figures are its part's")):
        head = tmp_path / "head"
        done = run(repo, env, head, "--affected", str(baseline), *args)
        assert done.returncode in (0, 5), done.stdout[-3000:] + done.stderr[-2000:]
        assert f"coverage not carried forward: {why}" in done.stdout, done.stdout[-3000:]
        assert not carried(head)
