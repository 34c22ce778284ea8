"""The miniature project the baseline tests run (issue 25), one generator for the integration tests
(tests/integration/test_baseline.py, the runner on this machine) and the act test
(tests/e2e/test_act_baseline.py, the action in the image).

Its states: ``MAIN`` (the base: test_add, test_sub, test_broken_on_main) and ``CHANGE`` (a pull
request: test_sub removed, calc's sub no longer covered, test_broken_here new,
test_broken_on_main still failing); ``loop`` is test_list_orders' SQL statements (2 on the base, 20
for an N+1 loop); ``flaky`` adds a test that fails its first attempt in each run and passes its
re-run; ``steady`` adds six integration tests of 0.1 s each (the run's timing noise has a sample).
"""

from __future__ import annotations

from pathlib import Path

from helpers import write_files

CALC = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
MAIN = '''
from app.calc import add, sub


def test_add():
    assert add(1, 2) == 3


def test_sub():
    assert sub(3, 2) == 1


def test_broken_on_main():
    assert add(1, 1) == 3
'''
CHANGE = '''
from app.calc import add


def test_add():
    assert add(1, 2) == 3


def test_broken_on_main():
    assert add(1, 1) == 3


def test_broken_here():
    assert add(2, 2) == 5
'''
# The re-run (plugin/rerun.py) runs in the same process: a module global counts the attempts, so
# every run's first attempt fails, wherever the run is (no file left between runs).
FLAKY = '''
ATTEMPTS = []


def test_fails_once_then_passes():
    ATTEMPTS.append(1)
    assert len(ATTEMPTS) > 1, "the first attempt fails"
'''
DB = '''
from sqlalchemy import text


async def test_list_orders(async_db_session):
    for n in range({loop}):
        await async_db_session.execute(text(f"SELECT {{n}}"))
'''
STEADY = '''
import time

import pytest
from sqlalchemy import text


@pytest.mark.parametrize("n", range(6))
async def test_steady(async_db_session, n):
    await async_db_session.execute(text("SELECT 1"))
    time.sleep(0.1)
'''
FLAKY_TEST = "tests/unit/test_flaky.py::test_fails_once_then_passes"
OPTIONAL = {"tests/unit/test_flaky.py": FLAKY, "tests/integration/test_steady.py": STEADY}


def baseline_project(root: Path, unit: str = MAIN, loop: int = 2, flaky: bool = False,
                     steady: bool = False) -> Path:
    """The project in ``root`` (created, or rewritten in place: a second commit of the same project)."""
    wanted = {"tests/unit/test_flaky.py": flaky, "tests/integration/test_steady.py": steady}
    write_files(root, {
        "pytest.ini": "[pytest]\nasyncio_mode = auto\npythonpath = .\n",
        "app/__init__.py": "", "app/calc.py": CALC,
        "tests/unit/test_calc.py": unit, "tests/integration/test_db.py": DB.format(loop=loop),
        **{path: text for path, text in OPTIONAL.items() if wanted[path]},
    })
    for path, keep in wanted.items():
        if not keep:
            (root / path).unlink(missing_ok=True)
    return root
