"""select: affected in the action, under act (issue 26): a push to main runs every test and stores the test
map with its baseline in the cache; a pull request touching one source module restores it and runs only
the tests that module's change reaches, saying "ran N of M" in the job summary, the comment and the
outputs, with the coverage of the tests left out carried forward; a pull request changing ``uv.lock``
runs every test and says why in one line.

Everything is real but GitHub's cache and API: the cache is the stand-in in tests/e2e/act/cache/ (a
folder shared by the runs), the API the stand-in of test_github_comment (as test_act_baseline.py).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Dict, Set, Tuple

import pytest

from helpers import REPO, copy_action, git, write_files

sys.path.insert(0, str(REPO / "tests" / "integration"))
from test_act import ACT, IMAGE
from test_act_baseline import head, summary_of
from test_act_baseline import run_act as run_baseline_act

pytestmark = pytest.mark.skipif(not IMAGE or not Path(ACT).exists(), reason="needs ASYNC_TEST_IMAGE and act")

CALC = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
FILES = {
    "pytest.ini": "[pytest]\nasyncio_mode = auto\npythonpath = .\n",
    "app/__init__.py": "",
    "app/calc.py": CALC,
    "app/text.py": "def shout(s):\n    return s.upper() + '!'\n",
    "tests/unit/test_calc.py": ("from app.calc import add, sub\n\n\n"
                                "def test_add():\n    assert add(1, 2) == 3\n\n\n"
                                "def test_sub():\n    assert sub(3, 2) == 1\n"),
    "tests/unit/test_text.py": ("from app.text import shout\n\n\n"
                                "def test_shout():\n    assert shout('a') == 'A!'\n"),
    "tests/integration/test_db.py": ("from sqlalchemy import text\n\n\n"
                                     "async def test_select(async_db_session):\n"
                                     "    assert (await async_db_session.execute(text('SELECT 1'))).scalar() == 1\n"),
}
ALL = {"tests.unit.test_calc::test_add", "tests.unit.test_calc::test_sub", "tests.unit.test_text::test_shout",
       "tests.integration.test_db::test_select"}


def run_act(repo: Path, event_name: str, event: Dict[str, object], cache: Path) -> Tuple[int, str, Dict[int, str]]:
    return run_baseline_act(repo, event_name, event, cache, "affected.yml")


def ran(log: str) -> Set[str]:
    return set(re.findall(r"RAN (\S+)", log))


def test_a_push_records_the_map_and_a_pull_request_runs_what_its_change_reaches(tmp_path: Path) -> None:
    repo = copy_action(tmp_path / "repo")
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "affected.yml").write_text((REPO / "tests/e2e/act/affected.yml").read_text())
    write_files(repo / "project", FILES)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "main")
    cache = tmp_path / "cache"
    cache.mkdir()
    main_sha = head(repo)
    push = {"ref": "refs/heads/main", "repository": {"default_branch": "main", "full_name": "org/repo"}}
    code, log, _ = run_act(repo, "push", push, cache)
    assert code == 0, log[-6000:]
    assert ran(log) == ALL, log[-6000:]  # a push always runs every test
    assert "test map recorded: 4 tests" in log, log[-6000:]
    saved = cache / f"async-test-baseline-project-main-{main_sha}"
    assert (saved / "baseline.json").is_file(), log[-6000:]
    stored = json.loads((saved / "testmap.json").read_text())  # the map travels with the baseline
    assert stored["base_commit"] == main_sha and not stored["dirty"] and len(stored["tests"]) == 4

    # A pull request touching one source function: only the test that runs it
    write_files(repo / "project", {"app/calc.py": CALC.replace("return a - b", "return -(b - a)")})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "sub, differently")
    pull = {"pull_request": {"number": 7, "base": {"sha": main_sha, "ref": "main"}, "head": {"sha": head(repo)}},
            "repository": {"default_branch": "main", "full_name": "org/repo"}}
    code, log, comments = run_act(repo, "pull_request", pull, cache)
    assert code == 0, log[-6000:]
    assert ran(log) == {"tests.unit.test_calc::test_sub"}, log[-6000:]
    selected, collected = (int(n) for n in re.search(
        r"OUTPUT tests=\d+ affected-selected=(\d+) affected-collected=(\d+)", log).groups())  # type: ignore[union-attr]
    assert (selected, collected) == (1, 4) and selected < collected
    step = summary_of(log)
    assert "ran 1 of 4 tests (affected by 1 changed file)" in step, step[-4000:]
    assert "carried forward from the baseline" in step, step[-4000:]  # the left-out tests' coverage
    body = next(iter(comments.values()))
    assert "ran 1 of 4 tests (affected by 1 changed file)" in body
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 1, "a pull request stores no map"

    # A pull request changing uv.lock: coverage cannot say who it reaches, so every test runs, and why
    write_files(repo / "project", {"uv.lock": "version = 1\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a dependency")
    pull["pull_request"]["head"] = {"sha": head(repo)}  # type: ignore[index]
    code, log, comments = run_act(repo, "pull_request", pull, cache)
    assert code == 0, log[-6000:]
    assert ran(log) == ALL, log[-6000:]
    assert re.search(r"OUTPUT tests=4 affected-selected= affected-collected= ", log), log[-6000:]
    line = "ran every test: project/uv.lock changed, which coverage does not measure"
    assert line in summary_of(log) and line in next(iter(comments.values())), summary_of(log)[-4000:]
